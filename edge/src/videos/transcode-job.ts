import { type TranscodeJob, videoKeys } from "@streamlet/shared";
import { signProgressToken } from "../auth/tokens.ts";
import type { Config } from "../config.ts";
import type { VideoRow } from "../db/schema.ts";

/**
 * The transcode job of a video as stored: its keys (derived from its id), its owner, a fresh progress token,
 * its run (named from the second on), and with `importFrom` the URL a node imports the source from, limited
 * to the video's quota reservation. Every enqueue (/uploaded, an import, a retry) builds its job here.
 */
export async function transcodeJobFor(
  config: Config,
  row: VideoRow,
  opts: { importFrom?: string | null } = {},
): Promise<TranscodeJob> {
  const keys = videoKeys(row.id);
  return {
    videoId: row.id,
    ownerId: row.ownerId,
    input: {
      key: keys.source,
      ...(opts.importFrom
        ? { url: opts.importFrom, maxBytes: row.uploadBytes ?? config.uploads.maxSourceBytes }
        : {}),
    },
    output: { prefix: keys.outputPrefix },
    progressToken: await signProgressToken(row.id, config.jwtSecret),
    ...(row.transcodeRun > 1 ? { run: row.transcodeRun } : {}),
  };
}
