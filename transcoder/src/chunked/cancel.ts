import { requireCanonicalId } from "@streamlet/shared";
import { UnrecoverableError } from "bullmq";
import type { Redis } from "ioredis";

/**
 * The per-video, per-run cancel flag: the coordinator sets it when it stops a video's chunks (deleted
 * video, failure, shutdown, lost lock); chunk workers on every node check it before encoding and before
 * uploading, so an active chunk stores nothing after the coordinator's cleanup. Each run of a video
 * (a retry after it failed) has its own: the new run lowering its flag leaves a straggling chunk of the
 * failed run stopped, instead of letting it store into the new run's output.
 */

/** How long the flag outlives the stop: longer than any chunk job can still be waiting or running. */
export const CANCEL_TTL_SECONDS = 24 * 60 * 60;

/** The flag's Redis key; the first run keeps the key it had before runs existed. */
export function cancelKey(videoId: string, run = 1): string {
  const key = `streamlet:chunks-cancelled:${requireCanonicalId(videoId)}`;
  return run > 1 ? `${key}:r${run}` : key;
}

/** A chunk of a video whose chunks were cancelled: over for good, no retry. */
export class ChunkCancelledError extends UnrecoverableError {
  override name = "ChunkCancelledError";
}

/** The message a cancelled chunk fails with (its failedReason). */
export const CANCELLED = "cancelled";

/** Raises the flag (a restarted coordinator clears it with clearCancelled before adding chunks again). */
export async function markCancelled(redis: Redis, videoId: string, run = 1): Promise<void> {
  await redis.set(cancelKey(videoId, run), "1", "EX", CANCEL_TTL_SECONDS);
}

/** Lowers the flag: the video's chunks may run again (a new coordinator attempt). */
export async function clearCancelled(redis: Redis, videoId: string, run = 1): Promise<void> {
  await redis.del(cancelKey(videoId, run));
}

/** Throws ChunkCancelledError when the chunks of this run of the video were cancelled. */
export async function throwIfCancelled(redis: Redis, videoId: string, run = 1): Promise<void> {
  if ((await redis.exists(cancelKey(videoId, run))) === 1) throw new ChunkCancelledError(CANCELLED);
}
