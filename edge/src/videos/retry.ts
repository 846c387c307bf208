import { outputPrefix, sourceKey } from "@streamlet/shared";
import { eq, sql } from "drizzle-orm";
import type { Config } from "../config.ts";
import type { Db } from "../db/client.ts";
import { type VideoRow, videos } from "../db/schema.ts";
import { HttpError, notFound } from "../errors.ts";
import { Storage } from "../storage.ts";
import { changeStatus } from "./change-status.ts";
import { transcodeJobFor } from "./transcode-job.ts";

/** What a retry needs beyond the row: config, db, the progress objects and waitUntil. */
export interface RetryContext {
  config: Config;
  db: Db;
  env: Pick<Env, "VIDEO_PROGRESS">;
  waitUntil: (promise: Promise<unknown>) => void;
}

/**
 * Runs a failed video's transcode again from its stored source, as a new run (transcode_run + 1: chunk
 * job ids and progress seqs derive from it). In order: the source must be there, or be importable again
 * from its URL (409 source_missing otherwise: the owner deletes the video and uploads again); the row
 * goes back to queued with the failure and the playback of the old run cleared (a new cache generation,
 * so nothing cached from the failed run is served); what the failed run left in storage is removed; the
 * job is queued (the kept failed job replaced; if either fails the row is put back to failed); then the
 * progress object begins the run, so subscribers see `queued` again. Returns the row as queued.
 */
export async function retryVideo(ctx: RetryContext, row: VideoRow): Promise<VideoRow> {
  const { config, db } = ctx;
  if (row.status !== "failed") {
    throw new HttpError(
      409,
      "invalid_state",
      `only a failed video can be retried; this one is ${row.status}`,
    );
  }
  const storage = new Storage(config.s3);
  const stored = (await storage.headSize(sourceKey(row.id))) !== null;
  // A video imported from a URL whose import failed is imported again.
  const reimport = !stored && row.sourceUrl !== null ? row.sourceUrl : null;
  if (!stored && reimport === null) {
    throw new HttpError(
      409,
      "source_missing",
      "the source file of this video is not in storage any more: delete the video and upload it again",
    );
  }
  const queued = await changeStatus(db, row.id, "queued", {
    transcodeRun: sql`${videos.transcodeRun} + 1`,
    failureReason: null,
    playableAt: null,
    readyAt: null,
    renditions: [],
    durationSeconds: null,
    sourceWidth: null,
    sourceHeight: null,
    cacheGeneration: sql`${videos.cacheGeneration} + 1`,
  });
  if (queued.outcome === "missing") throw notFound();
  if (queued.outcome !== "applied") {
    throw new HttpError(409, "invalid_state", `the video is already ${queued.row.status}`);
  }
  const run = queued.row.transcodeRun;
  try {
    // Only the request that moved the row clears what the failed run left (a concurrent retry got 409
    // above), and before the new run is queued: nothing of the new run can be there yet.
    const leftovers = await storage.listKeys(outputPrefix(row.id));
    for (let i = 0; i < leftovers.length; i += 10) {
      await Promise.all(leftovers.slice(i, i + 10).map((key) => storage.delete(key)));
    }
    const { requeueTranscode } = await import("../queue.ts");
    const job = await transcodeJobFor(config, queued.row, { importFrom: reimport });
    const { cleanup } = await requeueTranscode(config.redisUrl, job);
    ctx.waitUntil(cleanup);
  } catch (error) {
    // Nothing was queued: the video stays failed, as it was, and the owner may try again.
    await changeStatus(db, row.id, "failed", { failureReason: row.failureReason });
    throw error;
  }
  const progress = ctx.env.VIDEO_PROGRESS;
  const restarted = await progress.get(progress.idFromName(row.id)).restart(run);
  if (restarted === "failed")
    console.error(`retry: the progress channel of ${row.id} did not begin run ${run}`);
  const [current] = await db.select().from(videos).where(eq(videos.id, row.id)).limit(1);
  return current ?? queued.row;
}
