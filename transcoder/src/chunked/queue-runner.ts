import { setTimeout as sleep } from "node:timers/promises";
import { type Job, type JobsOptions, Queue, UnrecoverableError } from "bullmq";
import type { Redis } from "ioredis";
import { errorFields, type Logger } from "../log.ts";
import { clearCancelled, markCancelled } from "./cancel.ts";
import { CHUNK_QUEUE, ChunkDone, type ChunkedVideo, type ChunkJob, type ChunkRunner } from "./types.ts";

/** How often the coordinator looks at its chunks' states. */
export const DEFAULT_CHUNK_POLL_MS = 300;
/** How long a stop waits for the video's running chunks to end before giving up on them. */
export const DEFAULT_STOP_TIMEOUT_MS = 30_000;
/** Finished chunk jobs outlive their video's coordinator at most this long (a safety net; forget() removes them). */
const KEEP_FINISHED_SECONDS = 7 * 24 * 60 * 60;
/** How long the chunks' states may be unreadable (Redis down) before run() gives up. */
const REDIS_OUTAGE_MS = 60_000;
/** Every this many polls, pending chunks are checked to still exist (removed by hand → added again). */
const EXISTS_CHECK_EVERY = 20;

/**
 * The job id of a chunk of one run of a video: deterministic, so a restarted coordinator adds nothing
 * twice; per run, so a retried video's chunks are new jobs, not the failed run's kept ones (the first
 * run keeps the id it had before runs existed, which chunk jobs queued then still have).
 */
export function chunkJobId(videoId: string, chunk: number, run = 1): string {
  return run > 1 ? `${videoId}-r${run}-c${chunk}` : `${videoId}-c${chunk}`;
}

/**
 * BullMQ priority of a chunk (lower runs sooner): chunk 1 decides time-to-playable, chunk 2 completes
 * the opening, later chunks wait behind every video's opening (FIFO among themselves, so older videos
 * finish first).
 */
export function chunkPriority(chunk: number): number {
  return Math.min(chunk, 3);
}

/** A chunk ran out of attempts with a failure that may pass (the coordinator's own retry tries again). */
export class ChunkFailedError extends Error {
  override name = "ChunkFailedError";
  readonly chunk: number;
  constructor(chunk: number, reason: string) {
    super(`chunk ${chunk} failed: ${reason}`);
    this.chunk = chunk;
  }
}

export interface QueueChunkRunnerOptions {
  /** ioredis client (not blocking; the caller owns and closes it): the queue and the cancel flags use it. */
  connection: Redis;
  log: Logger;
  /** Queue name override for tests; CHUNK_QUEUE by default. */
  queueName?: string;
  pollMs?: number;
  /** Tries per chunk, the first included. */
  attempts?: number;
  /** First retry delay (exponential backoff). */
  backoffMs?: number;
  stopTimeoutMs?: number;
}

export type QueueChunkRunner = ChunkRunner & {
  /** Removes a finished run's chunk jobs (their return values are not needed once it is finalised). */
  forget(videoId: string, chunkCount: number, run?: number): Promise<void>;
  close(): Promise<void>;
};

/** A chunk job's payload: the video's shared fields and the chunk number (never the local path). */
function chunkPayload(video: ChunkedVideo, chunk: number): ChunkJob {
  const { chunkCount: _count, source: _source, ...shared } = video;
  return { ...shared, chunk };
}

/**
 * The ChunkRunner over BullMQ: one job per chunk on CHUNK_QUEUE, taken by any node's chunk worker.
 * Progress is read by polling the completed/failed sets for the video's own job ids rather than with
 * QueueEvents: a poll sees a state whenever it happened (before this coordinator started, while it was
 * reconnecting), while the events stream is trimmed and only delivers from when one listens.
 */
export function createQueueChunkRunner(options: QueueChunkRunnerOptions): QueueChunkRunner {
  const redis = options.connection;
  const queue = new Queue(options.queueName ?? CHUNK_QUEUE, { connection: redis });
  queue.on("error", (err) => options.log.error("chunk queue error", errorFields(err)));
  const pollMs = options.pollMs ?? DEFAULT_CHUNK_POLL_MS;
  const stopTimeoutMs = options.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
  const jobOptions = (chunk: number): JobsOptions => ({
    priority: chunkPriority(chunk),
    attempts: options.attempts ?? 3,
    backoff: { type: "exponential", delay: options.backoffMs ?? 5000 },
    removeOnComplete: { age: KEEP_FINISHED_SECONDS },
    removeOnFail: { age: KEEP_FINISHED_SECONDS },
  });

  /** The run's chunk job ids (a video's first run when the payload names none). */
  const idOf = (video: Pick<ChunkJob, "videoId" | "run">) => (chunk: number) =>
    chunkJobId(video.videoId, chunk, video.run);

  /** States of the given chunks in one round trip: completed, failed, or still on its way. */
  const finishedStates = async (video: Pick<ChunkJob, "videoId" | "run">, chunks: number[]) => {
    const id = idOf(video);
    const pipe = redis.pipeline();
    for (const c of chunks) {
      pipe.zscore(queue.keys.completed as string, id(c));
      pipe.zscore(queue.keys.failed as string, id(c));
    }
    const replies = (await pipe.exec()) ?? [];
    return chunks.map((chunk, i) => {
      const [completedErr, completed] = replies[2 * i] ?? [];
      const [failedErr, failed] = replies[2 * i + 1] ?? [];
      if (completedErr || failedErr) throw completedErr ?? failedErr;
      return { chunk, state: completed !== null ? "completed" : failed !== null ? "failed" : "pending" };
    });
  };

  /** Chunks whose job is gone (removed by hand, cleaned): they are added again. */
  const missing = async (video: Pick<ChunkJob, "videoId" | "run">, chunks: number[]) => {
    const id = idOf(video);
    const pipe = redis.pipeline();
    for (const c of chunks) pipe.exists(queue.toKey(id(c)));
    const replies = (await pipe.exec()) ?? [];
    return chunks.filter((_, i) => replies[i]?.[1] === 0);
  };

  const add = async (video: ChunkedVideo, chunks: number[]) => {
    // A job id that exists already (any state) is not added again: a restarted coordinator adds nothing.
    await queue.addBulk(
      chunks.map((c) => ({
        name: "chunk",
        data: chunkPayload(video, c),
        opts: { ...jobOptions(c), jobId: idOf(video)(c) },
      })),
    );
  };

  /** Removes the run's queued chunks, raises its cancel flag and waits (bounded) for running ones. */
  const stop = async (video: Pick<ChunkJob, "videoId" | "run">, chunks: number[], log: Logger) => {
    const id = idOf(video);
    await markCancelled(redis, video.videoId, video.run);
    let running: number[] = [];
    for (const c of chunks) {
      const job = await queue.getJob(id(c));
      if (!job) continue;
      const state = await job.getState();
      if (state === "active") running.push(c);
      else if (state !== "completed" && state !== "failed") {
        // Locked = a worker took it meanwhile: it sees the flag.
        await job.remove().catch(() => running.push(c));
      }
    }
    const deadline = Date.now() + stopTimeoutMs;
    while (running.length > 0 && Date.now() < deadline) {
      await sleep(pollMs);
      const states = await Promise.all(running.map((c) => queue.getJobState(id(c))));
      running = running.filter((_, i) => states[i] === "active");
    }
    if (running.length > 0) log.warn("chunks still running after the stop", { chunks: running });
  };

  /** The chunk's reported result, checked against the contract. */
  const resultOf = (job: Job | undefined, chunk: number): ChunkDone => {
    const parsed = ChunkDone.safeParse(job?.returnvalue);
    if (!parsed.success || parsed.data.chunk !== chunk) {
      throw new UnrecoverableError(`chunk ${chunk} reported an invalid result`);
    }
    return parsed.data;
  };

  /** How a chunk that failed for good ends the run: permanent when it did not use all its attempts. */
  const failureOf = (job: Job | undefined, chunk: number): Error => {
    const reason = job?.failedReason || "unknown failure";
    const attempts = job?.opts.attempts ?? 1;
    if (job && job.attemptsMade < attempts) return new UnrecoverableError(reason);
    return new ChunkFailedError(chunk, reason);
  };

  return {
    async run(video, onDone, cancel, leave) {
      cancel.throwIfAborted();
      leave?.throwIfAborted();
      const signal = leave ? AbortSignal.any([cancel, leave]) : cancel;
      const { videoId } = video;
      const id = idOf(video);
      const log = options.log.child({ videoId, ...(video.run ? { run: video.run } : {}) });
      const all = Array.from({ length: video.chunkCount }, (_, i) => i + 1);
      // A new attempt of the run: chunks may run again, and those that failed before go again.
      await clearCancelled(redis, videoId, video.run);
      for (const { chunk, state } of await finishedStates(video, all)) {
        if (state === "failed") await (await queue.getJob(id(chunk)))?.remove();
      }
      await add(video, all);
      log.info("chunks queued", { chunks: video.chunkCount });

      const pending = new Set(all);
      let polls = 0;
      let failingSince: number | null = null;
      try {
        while (pending.size > 0) {
          signal.throwIfAborted();
          let states: Awaited<ReturnType<typeof finishedStates>>;
          try {
            states = await finishedStates(video, [...pending]);
            failingSince = null;
          } catch (err) {
            // A Redis blip must not fail a long video: keep polling, give up after a while.
            failingSince ??= Date.now();
            if (Date.now() - failingSince > REDIS_OUTAGE_MS) throw err;
            log.warn("could not read the chunks' states; trying again", errorFields(err));
            states = [];
          }
          for (const { chunk, state } of states) {
            if (state === "pending") continue;
            const job = await queue.getJob(id(chunk));
            if (state === "failed") throw failureOf(job, chunk);
            pending.delete(chunk);
            await onDone(resultOf(job, chunk));
          }
          if (pending.size > 0 && ++polls % EXISTS_CHECK_EVERY === 0) {
            const gone = await missing(video, [...pending]);
            if (gone.length > 0) {
              log.warn("chunk jobs were gone; adding them again", { chunks: gone });
              await add(video, gone);
            }
          }
          if (pending.size > 0) await sleep(pollMs, undefined, { signal }).catch(() => undefined);
        }
      } catch (err) {
        if (leave?.aborted && !cancel.aborted) {
          log.info("no longer waiting for the video's chunks; they run on", { pending: pending.size });
          throw leave.reason;
        }
        const why = signal.aborted ? signal.reason : err;
        log.warn("stopping the video's chunks", { pending: pending.size, ...errorFields(why) });
        await stop(video, [...pending], log).catch((stopErr: unknown) =>
          log.error("could not stop the video's chunks", errorFields(stopErr)),
        );
        throw why;
      }
    },

    async forget(videoId, chunkCount, run) {
      for (let c = 1; c <= chunkCount; c++) {
        await (await queue.getJob(chunkJobId(videoId, c, run)))?.remove().catch(() => undefined);
      }
    },

    close: () => queue.close(),
  };
}
