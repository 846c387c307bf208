import { and, asc, eq, lt } from "drizzle-orm";
import type { Config } from "../config.ts";
import type { Db } from "../db/client.ts";
import { videos } from "../db/schema.ts";
import { loggable } from "../errors.ts";
import { Storage } from "../storage.ts";
import { type RemovalContext, removeVideo } from "./remove.ts";

/** Where sources live (sourceKey): the multipart uploads the cleanup looks at. */
const SOURCES_PREFIX = "sources/";
/** Videos removed per run at most: a backlog is worked off over the next runs. */
const VIDEOS_PER_RUN = 100;

export interface CleanupResult {
  videosRemoved: number;
  uploadsAborted: number;
}

/**
 * The scheduled cleanup (Cron Trigger): videos whose source has not arrived UPLOAD_EXPIRY_SECONDS after
 * they were created are removed (their multipart upload aborted with them), then every multipart upload
 * under sources/ started before that and not awaited by a video any more (a crash between starting it and
 * recording it, an upload discarded for a wrong size) is aborted, so storage keeps no unbilled parts.
 * Failures are logged per item and the rest goes on.
 */
export async function cleanUpStaleUploads(
  ctx: Omit<RemovalContext, "config" | "db"> & { config: Config; db: Db },
  now = new Date(),
): Promise<CleanupResult> {
  const { config, db } = ctx;
  const cutoff = new Date(now.getTime() - config.uploads.expirySeconds * 1000);
  const stale = await db
    .select()
    .from(videos)
    .where(and(eq(videos.status, "awaiting_upload"), lt(videos.createdAt, cutoff)))
    .orderBy(asc(videos.createdAt))
    .limit(VIDEOS_PER_RUN);
  let videosRemoved = 0;
  for (const row of stale) {
    try {
      await removeVideo(ctx, row);
      videosRemoved += 1;
    } catch (error) {
      console.error(`cleanup: removing never-uploaded video ${row.id} failed:`, loggable(error));
    }
  }

  const storage = new Storage(config.s3);
  let uploadsAborted = 0;
  for (const upload of await storage.listMultipartUploads(SOURCES_PREFIX)) {
    if (upload.initiated >= cutoff) continue;
    const [awaited] = await db
      .select({ id: videos.id })
      .from(videos)
      .where(and(eq(videos.uploadId, upload.uploadId), eq(videos.status, "awaiting_upload")))
      .limit(1);
    if (awaited) continue; // left for the next run (this one reached its limit of videos)
    try {
      await storage.abortMultipartUpload(upload.key, upload.uploadId);
      uploadsAborted += 1;
    } catch (error) {
      console.error(`cleanup: aborting the upload of ${upload.key} failed:`, loggable(error));
    }
  }
  if (videosRemoved > 0 || uploadsAborted > 0) {
    console.info(
      `cleanup: removed ${videosRemoved} never-uploaded videos, aborted ${uploadsAborted} stale uploads`,
    );
  }
  return { videosRemoved, uploadsAborted };
}
