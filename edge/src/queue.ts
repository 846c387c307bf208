import { TRANSCODE_QUEUE, type TranscodeJob } from "@streamlet/shared";
import { Queue } from "bullmq";
import IORedis from "ioredis";
import { HttpError } from "./errors.ts";

/** How long the Worker waits for Redis before answering 503 (ioredis would otherwise retry forever). */
const ENQUEUE_TIMEOUT_MS = 5000;

/**
 * Adds the transcode job from the Worker. jobId = videoId makes a repeat a no-op (BullMQ keeps the
 * existing job), so a client retrying "uploaded" never transcodes twice. Returns once the job is in
 * Redis; the connection is closed in `cleanup`, which the caller hands to waitUntil.
 */
export async function enqueueTranscode(
  redisUrl: string,
  job: TranscodeJob,
): Promise<{ cleanup: Promise<void> }> {
  const connection = new IORedis(redisUrl, {
    maxRetriesPerRequest: null,
    connectTimeout: ENQUEUE_TIMEOUT_MS,
  });
  connection.on("error", (error) => console.error("redis connection error:", error.message));
  const queue = new Queue<TranscodeJob>(TRANSCODE_QUEUE, { connection });
  const close = async () => {
    await queue.close().catch(() => undefined);
    connection.disconnect();
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new HttpError(503, "queue_unavailable", "the job queue is unavailable; try again")),
        ENQUEUE_TIMEOUT_MS,
      );
    });
    await Promise.race([
      queue.add("transcode", job, {
        jobId: job.videoId,
        attempts: 3,
        backoff: { type: "exponential", delay: 5000 },
        removeOnComplete: { age: 86_400 },
        removeOnFail: { age: 7 * 86_400 },
      }),
      timeout,
    ]);
  } catch (error) {
    clearTimeout(timer);
    await close();
    throw error;
  }
  clearTimeout(timer);
  return { cleanup: close() };
}
