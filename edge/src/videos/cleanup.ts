import { sourceKey } from "@streamlet/shared";
import { and, asc, eq, lt } from "drizzle-orm";
import { sourceSweeps, videos } from "../db/schema.ts";
import { loggable } from "../errors.ts";
import { Storage } from "../storage.ts";
import { type RemovalContext, releaseVideo, sweepSourceLater } from "./remove.ts";

/** Where sources live (sourceKey): the multipart uploads the cleanup looks at. */
const SOURCES_PREFIX = "sources/";
/** Videos removed, and source keys swept, per run at most: a backlog is worked off over the next runs. */
const PER_RUN = 100;

export interface CleanupResult {
  videosRemoved: number;
  sourcesSwept: number;
  uploadsAborted: number;
}

/**
 * The scheduled cleanup (Cron Trigger), in three steps; failures are logged per item and the rest goes on.
 * 1. Videos still awaiting their source UPLOAD_EXPIRY_SECONDS after the owner last asked for part URLs or
 *    the upload's state (updated_at) are removed. Each row is claimed first, atomically and only while it
 *    still awaits (a confirmation that got in first keeps its video), with its source key put on the sweep
 *    list; then the video is released (upload aborted, files, engagement).
 * 2. Swept source keys (source_sweeps: videos removed by their owner or here, for as long as an upload URL
 *    handed out before could still fill them) are emptied: an object put there, or a multipart upload
 *    started there, is deleted; a sweep past its time is dropped.
 * 3. Multipart uploads under sources/ started before the cutoff that no video awaits (a crash between
 *    starting one and recording it, an upload discarded for a wrong size) are aborted.
 */
export async function cleanUpStaleUploads(ctx: RemovalContext, now = new Date()): Promise<CleanupResult> {
  const { config, db } = ctx;
  const cutoff = new Date(now.getTime() - config.uploads.expirySeconds * 1000);
  const storage = new Storage(config.s3);

  let videosRemoved = 0;
  const stale = await db
    .select({ id: videos.id })
    .from(videos)
    .where(and(eq(videos.status, "awaiting_upload"), lt(videos.updatedAt, cutoff)))
    .orderBy(asc(videos.updatedAt))
    .limit(PER_RUN);
  for (const { id } of stale) {
    try {
      const claimed = await db.transaction(async (tx) => {
        const [row] = await tx
          .delete(videos)
          .where(and(eq(videos.id, id), eq(videos.status, "awaiting_upload"), lt(videos.updatedAt, cutoff)))
          .returning();
        if (row) await sweepSourceLater(tx, id, now);
        return row ?? null;
      });
      if (!claimed) continue; // its owner came back in the meantime
      videosRemoved += 1;
      await releaseVideo(ctx, claimed);
    } catch (error) {
      console.error(`cleanup: removing never-uploaded video ${id} failed:`, loggable(error));
    }
  }

  let sourcesSwept = 0;
  const sweeps = await db.select().from(sourceSweeps).orderBy(asc(sourceSweeps.sweepUntil)).limit(PER_RUN);
  for (const sweep of sweeps) {
    try {
      const key = sourceKey(sweep.videoId);
      await storage.delete(key);
      for (const upload of await storage.listMultipartUploads(key)) {
        if (upload.key === key) await storage.abortMultipartUpload(key, upload.uploadId);
      }
      if (sweep.sweepUntil < now)
        await db.delete(sourceSweeps).where(eq(sourceSweeps.videoId, sweep.videoId));
      sourcesSwept += 1;
    } catch (error) {
      console.error(
        `cleanup: sweeping the source of removed video ${sweep.videoId} failed:`,
        loggable(error),
      );
    }
  }

  let uploadsAborted = 0;
  for (const upload of await storage.listMultipartUploads(SOURCES_PREFIX)) {
    if (upload.initiated >= cutoff) continue;
    const [awaited] = await db
      .select({ id: videos.id })
      .from(videos)
      .where(and(eq(videos.uploadId, upload.uploadId), eq(videos.status, "awaiting_upload")))
      .limit(1);
    if (awaited) continue; // its video is still waiting (idle for less than the expiry, or left for the next run)
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
  return { videosRemoved, sourcesSwept, uploadsAborted };
}
