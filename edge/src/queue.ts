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

/**
 * Removes a video's transcode job if it is still waiting (or delayed for a retry), so a deleted video is
 * never transcoded. An active job is locked by its worker and cannot be removed from here: "active" is
 * answered, and the caller stops it through the video's progress object instead (VideoProgress.cancel:
 * the transcoder hears "video deleted", kills ffmpeg and removes what it uploaded).
 */
export async function removeTranscodeJob(
  redisUrl: string,
  videoId: string,
): Promise<"removed" | "absent" | "active"> {
  const connection = new IORedis(redisUrl, {
    maxRetriesPerRequest: null,
    connectTimeout: ENQUEUE_TIMEOUT_MS,
  });
  connection.on("error", (error) => console.error("redis connection error:", error.message));
  const queue = new Queue<TranscodeJob>(TRANSCODE_QUEUE, { connection });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new HttpError(503, "queue_unavailable", "the job queue is unavailable; try again")),
      ENQUEUE_TIMEOUT_MS,
    );
  });
  const remove = async () => {
    const job = await queue.getJob(videoId);
    if (!job) return "absent" as const;
    if (await job.isActive()) return "active" as const;
    try {
      await job.remove();
      return "removed" as const;
    } catch (error) {
      // Picked up between the check and the removal: it is locked by its worker now.
      if (await job.isActive()) return "active" as const;
      throw error;
    }
  };
  try {
    return await Promise.race([remove(), timeout]);
  } finally {
    clearTimeout(timer);
    await queue.close().catch(() => undefined);
    connection.disconnect();
  }
}
