import { eq } from "drizzle-orm";
import type { Config } from "../config.ts";
import type { Db } from "../db/client.ts";
import { type VideoRow, videos } from "../db/schema.ts";
import { insertWithinQuota } from "./source-upload.ts";
import { transcodeJobFor } from "./transcode-job.ts";

/**
 * A video whose source a transcoder node imports from a URL (never the Worker: no video byte passes
 * through it). The row starts queued with the URL and a quota reservation: the largest source, or the
 * owner's quota left if that is less, which is also the most the node may store. The reservation counts
 * against the quota until the ready event brings the real size (a failed import keeps it: the stored
 * source, if any, stays for a retry). The node checks every address it connects
 * to (transcoder/src/import) and fails the video with the reason when the URL cannot be imported.
 */
export async function importVideo(
  ctx: { config: Config; db: Db; waitUntil: (promise: Promise<unknown>) => void },
  ownerId: string,
  metadata: Pick<typeof videos.$inferInsert, "title" | "description" | "visibility">,
  url: string,
): Promise<VideoRow> {
  const { config, db } = ctx;
  const row = await insertWithinQuota(
    db,
    config.uploads,
    ownerId,
    { upTo: config.uploads.maxSourceBytes },
    { ...metadata, status: "queued", sourceUrl: url },
  );
  try {
    const { enqueueTranscode } = await import("../queue.ts");
    // The job's limit is the reservation: what the quota had left, at most the largest source.
    const { cleanup } = await enqueueTranscode(
      config.redisUrl,
      await transcodeJobFor(config, row, { importFrom: url }),
    );
    ctx.waitUntil(cleanup);
  } catch (error) {
    // Nothing was queued: no video either.
    await db.delete(videos).where(eq(videos.id, row.id));
    throw error;
  }
  return row;
}
