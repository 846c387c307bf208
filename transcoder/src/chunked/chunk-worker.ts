import { sourceKey } from "@streamlet/shared";
import { DelayedError, type Job, Queue, UnrecoverableError, WaitingError, Worker } from "bullmq";
import { Redis } from "ioredis";
import type { Config } from "../config.ts";
import { type Deferral, deferIfOverShare, type FairShareOptions } from "../fair-share.ts";
import { errorFields, type Logger } from "../log.ts";
import type { EncoderSpec } from "../media/index.ts";
import type { SessionBudget } from "../nvenc-budget.ts";
import { classifyError } from "../process-job.ts";
import { createStorage, type Storage } from "../storage.ts";
import { HandBackError, type JobOutcome, LockLostError } from "../worker.ts";
import { ChunkCancelledError, throwIfCancelled } from "./cancel.ts";
import { FIRST_CHUNK_URL_SECONDS, parseChunkJob, runChunk, sourceFor } from "./run-chunk.ts";
import { createSourceCache, type SourceCache, type SourceLease } from "./source-cache.ts";
import { CHUNK_QUEUE, type ChunkDone } from "./types.ts";

/** How often a running chunk looks at its video's cancel flag (the coordinator stopped the video). */
const CANCEL_POLL_MS = 1000;

export interface ChunkWorkerHooks {
  /** A chunk attempt left this node (metrics); must not throw. */
  chunkEnded?(info: { jobId: string; videoId?: string; chunk?: number; outcome: JobOutcome }): void;
}

export interface ChunkWorkerDeps {
  log: Logger;
  storage?: Storage;
  /** The node's source cache, shared with the coordinator; one of its own (under WORK_DIR) otherwise. */
  sources?: SourceCache;
  /** Queue name override, for tests. */
  queueName?: string;
  /** The encoder the start-up probe resolved (read per chunk); x264 with the configured preset otherwise. */
  encoder?: EncoderSpec | (() => EncoderSpec);
  sessions?: SessionBudget;
  /** Chunks at once; config.concurrency by default. */
  concurrency?: number;
  /** Chunks of one owner running at once across nodes; config.maxJobsInFlightPerUser by default. */
  chunksInFlightPerUser?: number;
  deferDelayMs?: () => number;
  hooks?: ChunkWorkerHooks;
}

/** The chunk worker plus what a graceful shutdown (drainWorker) needs. */
export type ChunkWorker = Worker<unknown, ChunkDone> & {
  runningJobIds(): string[];
  handBackAll(why: string): string[];
  redisStatus(): string;
};

function safely(log: Logger, fn: () => void) {
  try {
    fn();
  } catch (err) {
    log.error("chunk worker hook threw", errorFields(err));
  }
}

/**
 * Builds the BullMQ worker that encodes and stores chunks of any video: the transcode worker's lock,
 * stall, hand-back and lost-lock behaviour (worker.ts), fair share per owner over running chunks, bad
 * media and cancelled videos failed without retries.
 */
export function createChunkWorker(config: Config, deps: ChunkWorkerDeps): ChunkWorker {
  const connection = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
  const storage = deps.storage ?? createStorage(config.s3);
  const log = deps.log;
  const hooks = deps.hooks ?? {};
  const ownSources = deps.sources === undefined;
  const sources = deps.sources ?? createSourceCache({ storage, workDir: config.workDir, log });
  const x264: EncoderSpec = { kind: "x264", preset: config.x264Preset };
  const encoderNow = (): EncoderSpec =>
    typeof deps.encoder === "function" ? deps.encoder() : (deps.encoder ?? x264);
  const queueName = deps.queueName ?? CHUNK_QUEUE;
  const queue = new Queue(queueName, { connection });
  queue.on("error", (err) => log.error("chunk queue error", errorFields(err)));
  const fairShare: FairShareOptions = {
    active: () => queue.getJobs(["active"]),
    limit: deps.chunksInFlightPerUser ?? config.maxJobsInFlightPerUser,
    delayMs: deps.deferDelayMs,
    // Chunks hold back only while another user's chunks wait: alone, one video spreads over every node.
    waiting: () => queue.getJobs(["prioritized", "waiting"], 0, 49),
  };

  /** Over the owner's share: back to the queue (delayed, no attempt used) before anything is done. */
  const takeTurnOrDefer = async (job: Job, token: string | undefined, jobLog: Logger) => {
    let deferral: Deferral | null;
    try {
      deferral = await deferIfOverShare(job, token, fairShare, jobLog);
    } catch (err) {
      jobLog.warn("could not defer the chunk; it will be recovered as stalled", errorFields(err));
      throw new WaitingError();
    }
    if (!deferral) return;
    jobLog.info("chunk deferred: its owner has the most chunks in flight allowed", { ...deferral });
    throw new DelayedError();
  };

  const controllers = new Map<string, AbortController>();
  let handingBack: string | undefined;

  const processor = async (job: Job, token: string | undefined, bullSignal?: AbortSignal) => {
    const jobId = job.id ?? "";
    const raw = job.data as { videoId?: unknown; chunk?: unknown } | null;
    const videoId = typeof raw?.videoId === "string" ? raw.videoId : undefined;
    const chunk = typeof raw?.chunk === "number" ? raw.chunk : undefined;
    const attempt = Math.max(job.attemptsStarted ?? 0, job.attemptsMade + 1);
    const jobLog = log.child({ jobId, videoId, chunk, attempt });
    const ended = (outcome: JobOutcome) =>
      safely(log, () => hooks.chunkEnded?.({ jobId, videoId, chunk, outcome }));
    let data: ReturnType<typeof parseChunkJob>;
    try {
      data = parseChunkJob(job.data);
    } catch (err) {
      jobLog.error("invalid chunk job payload", errorFields(err));
      ended("failed");
      throw err;
    }
    await takeTurnOrDefer(job, token, jobLog);
    const controller = new AbortController();
    controllers.set(jobId, controller);
    if (handingBack !== undefined) controller.abort(new HandBackError(handingBack));
    const signal = bullSignal ? AbortSignal.any([bullSignal, controller.signal]) : controller.signal;
    const checkpoint = () => throwIfCancelled(connection, data.videoId, data.run);
    // A cancelled video stops its running chunks too, not only the queued ones.
    const watch = setInterval(() => {
      checkpoint().catch((err: unknown) => {
        if (err instanceof ChunkCancelledError) controller.abort(err);
      });
    }, CANCEL_POLL_MS);
    jobLog.info("chunk started");
    try {
      await checkpoint();
      let lease: SourceLease | undefined;
      const input = await sourceFor(data, {
        url: () => storage.presignGet(sourceKey(data.videoId), FIRST_CHUNK_URL_SECONDS),
        path: async () => {
          lease = await sources.acquire(data.videoId, signal);
          return lease.path;
        },
      });
      try {
        const done = await runChunk(
          data,
          input,
          {
            storage,
            log,
            workDir: config.workDir,
            ffmpegPath: config.ffmpegPath,
            encoder: chunkEncoder(data.encoder, encoderNow()),
            sessions: deps.sessions,
            encodeStallTimeoutMs: config.encodeStallTimeoutMs,
            ffmpegTimeLimit: config.ffmpegTimeLimit,
            ffmpegMemoryLimitBytes: config.ffmpegMemoryLimitBytes ?? undefined,
            sourceLimits: config.sourceLimits,
          },
          { signal, checkpoint },
        );
        ended("completed");
        return done;
      } finally {
        lease?.release();
      }
    } catch (err) {
      const reason: unknown = signal.aborted ? signal.reason : undefined;
      if (err instanceof ChunkCancelledError || reason instanceof ChunkCancelledError) {
        jobLog.info("chunk cancelled: its video's chunks were stopped");
        // No more chunks of it will come: its copy goes now (or when this node's last user lets go).
        void sources.discard(data.videoId).catch(() => undefined);
        ended("cancelled");
        throw err instanceof ChunkCancelledError ? err : reason;
      }
      if (reason instanceof HandBackError) {
        try {
          await job.moveToWait(token);
          jobLog.info("chunk handed back to the queue", { reason: reason.message });
        } catch (moveErr) {
          jobLog.warn("could not hand the chunk back; it will be recovered as stalled", errorFields(moveErr));
        }
        ended("handed_back");
        throw new WaitingError();
      }
      if (reason instanceof LockLostError) {
        jobLog.warn("chunk stopped: its lock was lost", { reason: reason.message });
        ended("handed_back");
        throw new WaitingError();
      }
      ended("failed");
      throw classifyError(err);
    } finally {
      clearInterval(watch);
      controllers.delete(jobId);
    }
  };

  const worker = new Worker<unknown, ChunkDone>(queueName, processor, {
    connection,
    concurrency: deps.concurrency ?? config.concurrency,
    lockDuration: config.lockDurationMs,
    stalledInterval: config.stalledIntervalMs,
    maxStalledCount: config.maxStalledCount,
  });
  worker.on("error", (err) => log.error("chunk worker error", errorFields(err)));
  worker.on("lockRenewalFailed", (jobIds) => {
    log.error("chunk lock renewal failed; stopping the chunks", { jobIds });
    for (const jobId of jobIds) {
      controllers.get(jobId)?.abort(new LockLostError(`lock for job ${jobId} could not be renewed`));
    }
  });
  worker.on("stalled", (jobId, prev) =>
    log.warn("stalled chunk put back in the queue (its worker stopped renewing the lock)", { jobId, prev }),
  );
  worker.on("failed", (job, err) =>
    log.warn("chunk attempt failed", {
      jobId: job?.id,
      attemptsMade: job?.attemptsMade,
      ...errorFields(err),
    }),
  );
  worker.on("closed", () => {
    if (ownSources) sources.close();
    queue
      .close()
      .catch(() => undefined)
      .finally(() => connection.quit().catch(() => connection.disconnect()));
  });
  return Object.assign(worker, {
    runningJobIds: () => [...controllers.keys()],
    redisStatus: () => connection.status,
    handBackAll: (why: string) => {
      handingBack = why;
      const jobIds = [...controllers.keys()];
      for (const c of controllers.values()) c.abort(new HandBackError(why));
      return jobIds;
    },
  });
}

/**
 * The encoder a chunk runs with: the one its video's coordinator chose, so every chunk of a rung shares
 * one init. A node without NVENC cannot run an NVENC video's chunk: that is a deployment mixing GPU and
 * CPU nodes on one queue, refused with a reason (a chunk encoded otherwise would fail the video anyway).
 */
export function chunkEncoder(wanted: EncoderSpec | undefined, own: EncoderSpec): EncoderSpec {
  if (!wanted) return own;
  if (wanted.kind === "nvenc" && own.kind !== "nvenc") {
    throw new UnrecoverableError(
      "this video's chunks are encoded with NVENC and this node has none; run every node of a queue with the same ENCODER",
    );
  }
  return wanted;
}
