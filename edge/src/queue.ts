import { runOf, TRANSCODE_QUEUE, type TranscodeJob } from "@streamlet/shared";
import { type JobsOptions, Queue } from "bullmq";
import IORedis from "ioredis";
import { HttpError } from "./errors.ts";

/** How long the Worker waits for Redis before answering 503 (ioredis would otherwise retry forever). */
const ENQUEUE_TIMEOUT_MS = 5000;

/** Every transcode job's options; its id is the video id, whatever the run (see requeueTranscode). */
const TRANSCODE_JOB_OPTIONS: JobsOptions = {
  attempts: 3,
  backoff: { type: "exponential", delay: 5000 },
  removeOnComplete: { age: 86_400 },
  removeOnFail: { age: 7 * 86_400 },
};

/**
 * Runs `work` against the transcode queue on a connection of its own, answering 503 if Redis does not
 * answer in time. The connection is closed once `work` settled, or with `closeLater` by the returned
 * `cleanup` (for the caller's waitUntil).
 */
async function withTranscodeQueue<T>(
  redisUrl: string,
  work: (queue: Queue<TranscodeJob>) => Promise<T>,
  options: { closeLater?: boolean } = {},
): Promise<{ result: T; cleanup: Promise<void> }> {
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
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new HttpError(503, "queue_unavailable", "the job queue is unavailable; try again")),
      ENQUEUE_TIMEOUT_MS,
    );
  });
  let result: T;
  try {
    result = await Promise.race([work(queue), timeout]);
  } catch (error) {
    clearTimeout(timer);
    await close();
    throw error;
  }
  clearTimeout(timer);
  if (options.closeLater) return { result, cleanup: close() };
  await close();
  return { result, cleanup: Promise.resolve() };
}

/**
 * Adds the transcode job from the Worker. jobId = videoId makes a repeat a no-op (BullMQ keeps the
 * existing job), so a client retrying "uploaded" never transcodes twice. Returns once the job is in
 * Redis; the connection is closed in `cleanup`, which the caller hands to waitUntil.
 */
export async function enqueueTranscode(
  redisUrl: string,
  job: TranscodeJob,
): Promise<{ cleanup: Promise<void> }> {
  const { cleanup } = await withTranscodeQueue(
    redisUrl,
    (queue) => queue.add("transcode", job, { ...TRANSCODE_JOB_OPTIONS, jobId: job.videoId }),
    { closeLater: true },
  );
  return { cleanup };
}

/** States of a transcode job that is over: BullMQ keeps it (removeOnFail/Complete) but runs it no more. */
const FINISHED = new Set(["completed", "failed"]);

/**
 * Queues another run of a video (a retry of a failed one): the previous run's job, kept by BullMQ under
 * the same id (the video id) and blocking a new add, is removed first when it is finished (failed or
 * completed). Refuses with 409 invalid_state while that job is still queued or running (a new run
 * would race it), or when it already carries this run or a later one (`job.run` must be the new run,
 * above every earlier one: chunk job ids and progress seqs derive from it). Resolves once the job is
 * in Redis; `cleanup` closes the connection (for waitUntil).
 */
export async function requeueTranscode(
  redisUrl: string,
  job: TranscodeJob,
): Promise<{ cleanup: Promise<void> }> {
  const run = runOf(job);
  const { cleanup } = await withTranscodeQueue(
    redisUrl,
    async (queue) => {
      const previous = await queue.getJob(job.videoId);
      if (previous) {
        const state = await previous.getState();
        if (!FINISHED.has(state)) {
          throw new HttpError(
            409,
            "invalid_state",
            `the video's transcode is still ${state}; try again later`,
          );
        }
        const previousRun = runOf(previous.data ?? {});
        if (previousRun >= run) {
          throw new HttpError(
            409,
            "invalid_state",
            `run ${previousRun} of this video was queued already; a retry must be run ${previousRun + 1} or later`,
          );
        }
        // Removing a finished job only fails if it went meanwhile (another retry); the add then decides.
        await previous.remove().catch(() => undefined);
      }
      await queue.add("transcode", job, { ...TRANSCODE_JOB_OPTIONS, jobId: job.videoId });
      // An id that exists is not added again (and add does not say so): another retry won the race.
      const queued = await queue.getJob(job.videoId);
      if (queued && runOf(queued.data ?? {}) !== run) {
        throw new HttpError(409, "invalid_state", "another run of this video was queued meanwhile");
      }
    },
    { closeLater: true },
  );
  return { cleanup };
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
  const remove = async (queue: Queue<TranscodeJob>) => {
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
  return (await withTranscodeQueue(redisUrl, remove)).result;
}
