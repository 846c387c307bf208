import { videoPrefixes } from "@streamlet/shared";
import { and, eq, sql } from "drizzle-orm";
import type { Config } from "../config.ts";
import type { Db } from "../db/client.ts";
import { sourceSweeps, type VideoRow, videos } from "../db/schema.ts";
import { openEngagementStore } from "../engagement/open-store.ts";
import { purgeVideoCache } from "../play/purge.ts";
import { Storage, UPLOAD_URL_SECONDS } from "../storage.ts";
import { abortUpload } from "./source-upload.ts";

/** What removing a video needs: the request's (or the scheduled run's) config, db, bindings and waitUntil. */
export interface RemovalContext {
  config: Config;
  db: Db;
  env: Pick<Env, "VIDEO_PROGRESS" | "VIEW_COUNTER">;
  waitUntil: (promise: Promise<unknown>) => void;
}

/**
 * Removes a video everywhere (the owner's DELETE): everything releaseVideo lets go of, then the row, last,
 * so a failure part way throws while the row still exists and the owner's retry finishes the job.
 */
export async function removeVideo(ctx: RemovalContext, row: VideoRow): Promise<void> {
  await releaseVideo(ctx, row);
  await ctx.db.delete(videos).where(and(eq(videos.id, row.id), eq(videos.ownerId, row.ownerId)));
}

/**
 * Lets go of everything a video holds but its row: its job, its upload in progress, its stored files,
 * cached copies and engagement; and it has the cleanup sweep its source key for as long as an upload URL
 * handed out before could still fill it. The scheduled cleanup calls it after claiming the row.
 *
 * The job first: a waiting one is removed, a running one told to stop (it kills ffmpeg and removes what it
 * uploaded; a reconnect finds the channel gone, and its outcome later finds no row). Then pending views, a
 * multipart upload still open, the files (also whatever a job that just finished uploaded) and engagement.
 */
export async function releaseVideo(ctx: RemovalContext, row: VideoRow): Promise<void> {
  const { config, db, env } = ctx;
  const id = row.id;
  if (row.status === "queued" || row.status === "processing") {
    const { removeTranscodeJob } = await import("../queue.ts");
    await removeTranscodeJob(config.redisUrl, id);
  }
  const { publishers } = await env.VIDEO_PROGRESS.get(env.VIDEO_PROGRESS.idFromName(id)).cancel();
  if (publishers > 0) console.info(`delete: told the running transcode of ${id} to stop`);
  await env.VIEW_COUNTER.get(env.VIEW_COUNTER.idFromName(id)).forget();
  await sweepSourceLater(db, id, new Date());
  await abortUpload(config, row);
  const storage = new Storage(config.s3);
  const keys = (await Promise.all(videoPrefixes(id).map((prefix) => storage.listKeys(prefix)))).flat();
  for (let i = 0; i < keys.length; i += 10) {
    await Promise.all(keys.slice(i, i + 10).map((key) => storage.delete(key)));
  }
  // Postgres would cascade with the row; MongoDB has no foreign keys, so the store is told.
  const opened = await openEngagementStore(config, db);
  try {
    await opened.store.deleteVideo(id);
  } finally {
    await opened.close().catch((error: unknown) => console.error("engagement store close failed:", error));
  }
  ctx.waitUntil(purgeVideoCache(config, id, row.cacheGeneration, keys));
}

/** How long after a removal its source key is swept: an upload URL's life, and a margin for slow PUTs. */
export const SWEEP_SECONDS = UPLOAD_URL_SECONDS + 15 * 60;

/** Has the cleanup delete whatever appears at the video's source key until SWEEP_SECONDS from `now`. */
export async function sweepSourceLater(db: Pick<Db, "insert">, videoId: string, now: Date): Promise<void> {
  const sweepUntil = new Date(now.getTime() + SWEEP_SECONDS * 1000);
  await db
    .insert(sourceSweeps)
    .values({ videoId, sweepUntil })
    .onConflictDoUpdate({
      target: sourceSweeps.videoId,
      set: { sweepUntil: sql`greatest(${sourceSweeps.sweepUntil}, ${sweepUntil})` },
    });
}
