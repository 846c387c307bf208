import { TRANSCODE_QUEUE } from "@streamlet/shared";
import { DelayedError, type Job, Queue, WaitingError, Worker } from "bullmq";
import { Redis } from "ioredis";
import type { SourceCache } from "./chunked/source-cache.ts";
import type { ChunkRunner } from "./chunked/types.ts";
import type { Config } from "./config.ts";
import { JobCancelledError } from "./errors.ts";
import { type DeferReason, type Deferral, deferIfOverShare, type FairShareOptions } from "./fair-share.ts";
import { type SourceImporter, sourceImporter } from "./import/job-import.ts";
import { errorFields, type Logger } from "./log.ts";
import type { EncoderSpec, FallBackDecision } from "./media/index.ts";
import type { SessionBudget } from "./nvenc-budget.ts";
import { type OpenProgress, type ProcessDeps, processJob, type TranscodeResult } from "./process-job.ts";
import { createProgressPublisher } from "./progress-publisher.ts";
import { createStorage, type Storage, type StreamUploader } from "./storage.ts";

/** Abort reason: this node is shutting down and gives the job back to the queue for another node. */
export class HandBackError extends Error {
  override name = "HandBackError";
}

/** Abort reason: BullMQ could not renew the job's lock, so another node may already be running it. */
export class LockLostError extends Error {
  override name = "LockLostError";
}

/**
 * How one attempt ended on this node (the metrics module's names): "cancelled" = the video was deleted;
 * "handed_back" = it went back to the queue for another node (shutdown, lost lock).
 */
export type JobOutcome = "completed" | "failed" | "cancelled" | "handed_back";

/** Seams for metrics (jobs in flight, durations, outcomes); every hook is optional and must not throw. */
export interface WorkerHooks {
  jobStarted?(info: { jobId: string; videoId?: string; attempt: number }): void;
  jobEnded?(info: {
    jobId: string;
    videoId?: string;
    attempt: number;
    outcome: JobOutcome;
    /** For handed_back: a shutdown, or a lock this node could not renew (the job is re-run elsewhere). */
    why?: "shutdown" | "lock_lost";
    durationMs: number;
  }): void;
  /**
   * A job went back to the queue (delayed, no attempt used) before doing anything: its owner already has
   * MAX_JOBS_IN_FLIGHT_PER_USER jobs in flight. jobStarted/jobEnded are not called for it.
   */
  jobDeferred?(info: { jobId: string; videoId?: string; reason: DeferReason }): void;
  /** Live encode figures of a running job: ffmpeg's fps and speed (= realtime factor). */
  jobStats?(info: { jobId: string; fps: number | null; speed: number | null }): void;
  /** A job's encode finished: with which encoder, at what realtime factor (video seconds per second). */
  encoded?(info: { jobId: string; encoder: EncoderSpec["kind"]; realtimeFactor: number }): void;
  /** The lock of these jobs could not be renewed (they are being aborted). */
  lockLost?(jobIds: string[]): void;
  /** This node's stalled-job check put a job whose worker died back in the queue. */
  stalled?(jobId: string): void;
}

/** The BullMQ worker plus what a graceful shutdown needs. */
export type TranscodeWorker = Worker<unknown, TranscodeResult> & {
  /** Ids of the jobs this node is running now. */
  runningJobIds(): string[];
  /** Aborts every running job and hands it back to the queue (no attempt used). */
  handBackAll(why: string): string[];
  /** The status of the worker's own Redis connection ("ready" when it can take jobs). */
  redisStatus(): string;
};

export interface WorkerDeps {
  log: Logger;
  storage?: Storage;
  /** Imports sources from URLs; built on `storage` when it can stream. */
  importSource?: SourceImporter;
  /** Progress channel override (tests); by default a socket to the video's DO on the edge. */
  openProgress?: OpenProgress;
  /** Queue name override, for tests that need their own queue. */
  queueName?: string;
  /**
   * The encoder the start-up probe resolved from config.encoder, read at the start of each job (a
   * re-probe after a GPU failure may change it). Without one, "auto" and "x264" run libx264; "nvenc"
   * needs the probe's answer.
   */
  encoder?: EncoderSpec | (() => EncoderSpec);
  /** NVENC sessions of this process (see nvenc-budget.ts). */
  sessions?: SessionBudget;
  /** Jobs at once; defaults to config.concurrency (main.ts lowers it to the NVENC session budget). */
  concurrency?: number;
  /** An NVENC encode failed for a GPU reason mid-job (the job itself goes on with x264). */
  onNvencFailure?: (decision: FallBackDecision) => void;
  /** The wait before a deferred job is tried again (tests); fair-share.ts's 2-5 s with jitter by default. */
  deferDelayMs?: () => number;
  /**
   * Where each video's chunks are encoded: the chunk queue, so any node takes any chunk (main.ts); the
   * coordinator's own process, one chunk after another, when absent.
   */
  chunkRunner?: ChunkRunner;
  /** The node's source cache, shared with its chunk worker (main.ts). */
  sources?: SourceCache;
  hooks?: WorkerHooks;
}

function videoIdOf(job: Pick<Job, "data">): string | undefined {
  const data = job.data as { videoId?: unknown } | null;
  return typeof data?.videoId === "string" ? data.videoId : undefined;
}

function safely(log: Logger, name: string, fn: () => void) {
  try {
    fn();
  } catch (err) {
    log.error("worker hook threw", { hook: name, ...errorFields(err) });
  }
}

function canStream(storage: Storage): storage is Storage & StreamUploader {
  return "putStream" in storage && "exists" in storage;
}

/** Builds the BullMQ worker that turns queued uploads into HLS ladders. */
export function createWorker(config: Config, deps: WorkerDeps): TranscodeWorker {
  if (!deps.encoder && config.encoder === "nvenc") {
    throw new Error("ENCODER=nvenc needs the encoder resolved by the start-up probe");
  }
  // BullMQ requires maxRetriesPerRequest: null for the blocking connection a worker uses.
  const connection = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
  const storage = deps.storage ?? createStorage(config.s3);
  const log = deps.log;
  const hooks = deps.hooks ?? {};
  const openProgress: OpenProgress =
    deps.openProgress ??
    ((channel) =>
      createProgressPublisher({
        ...channel,
        edgeUrl: config.edgeUrl,
        secret: config.transcoderSecret,
        ackTimeoutMs: config.progressAckTimeoutMs,
        log: log.child({ videoId: channel.videoId }),
      }));
  // Storage given by a test may not stream (an in-memory fake): imports need the real one's putStream.
  const importer =
    deps.importSource ?? (canStream(storage) ? sourceImporter(storage, config.imports) : undefined);
  const x264: EncoderSpec = { kind: "x264", preset: config.x264Preset };
  const encoderNow = (): EncoderSpec =>
    typeof deps.encoder === "function" ? deps.encoder() : (deps.encoder ?? x264);
  /** BullMQ's own record of a running job's progress (queue dashboards), at most every 10 s. */
  const PROGRESS_EVERY_MS = 10_000;
  const processorDeps = (job: Job, jobId: string): ProcessDeps => {
    let progressAt = 0;
    return {
      storage,
      openProgress,
      log,
      workDir: config.workDir,
      ffmpegPath: config.ffmpegPath,
      ffprobePath: config.ffprobePath,
      encoder: encoderNow(),
      fallbackEncoder: x264,
      sessions: deps.sessions,
      onNvencFailure: deps.onNvencFailure,
      chunkRunner: deps.chunkRunner,
      sources: deps.sources,
      encodeStallTimeoutMs: config.encodeStallTimeoutMs,
      sourceLimits: config.sourceLimits,
      importSource: importer,
      ffmpegTimeLimit: config.ffmpegTimeLimit,
      ffmpegMemoryLimitBytes: config.ffmpegMemoryLimitBytes ?? undefined,
      onEncodeStats: (stats) => {
        safely(log, "jobStats", () => hooks.jobStats?.({ jobId, fps: stats.fps, speed: stats.speed }));
        if (Date.now() - progressAt < PROGRESS_EVERY_MS) return;
        progressAt = Date.now();
        job
          .updateProgress({ encodedSeconds: stats.seconds, fps: stats.fps, speed: stats.speed })
          .catch((err: unknown) => log.warn("could not record job progress", { jobId, ...errorFields(err) }));
      },
      onEncoded: (result) =>
        safely(log, "encoded", () =>
          hooks.encoded?.({ jobId, encoder: result.encoder, realtimeFactor: result.realtimeFactor }),
        ),
    };
  };

  const queueName = deps.queueName ?? TRANSCODE_QUEUE;
  // The active list, read on every job start; shares the worker's connection (closed with it).
  const queue = new Queue(queueName, { connection });
  // Like the worker's: without a listener a Redis hiccup would crash the process.
  queue.on("error", (err) => log.error("queue error", errorFields(err)));
  const fairShare: FairShareOptions = {
    active: () => queue.getJobs(["active"]),
    limit: config.maxJobsInFlightPerUser,
    delayMs: deps.deferDelayMs,
  };
  /**
   * Step 0 of every job, before anything is downloaded: a job whose owner already has the limit in flight
   * goes back to the queue (delayed, no attempt used, nothing written) and the processor ends with
   * DelayedError, which BullMQ takes as "moved elsewhere".
   */
  const takeTurnOrDefer = async (job: Job, token: string | undefined, jobLog: Logger) => {
    let deferral: Deferral | null;
    try {
      deferral = await deferIfOverShare(job, token, fairShare, jobLog);
    } catch (err) {
      // Not ours any more (lost lock) or Redis failed mid-move: the stalled check puts it back if need be.
      jobLog.warn("could not defer the job; it will be recovered as stalled", errorFields(err));
      throw new WaitingError();
    }
    if (!deferral) return;
    jobLog.info("job deferred: its owner has the most jobs in flight allowed", {
      ownerId: deferral.ownerId,
      inFlight: deferral.inFlight,
      limit: fairShare.limit,
      delayMs: deferral.delayMs,
    });
    const jobId = job.id ?? "";
    safely(log, "jobDeferred", () =>
      hooks.jobDeferred?.({ jobId, videoId: videoIdOf(job), reason: "user_in_flight" }),
    );
    throw new DelayedError();
  };

  // Ours, beside BullMQ's signal: aborting with a typed reason tells the processor what to do afterwards.
  const controllers = new Map<string, AbortController>();
  let handingBack: string | undefined;

  // The processor takes three parameters, so BullMQ hands it an AbortSignal (it checks fn.length).
  const processor = async (job: Job, token: string | undefined, bullSignal?: AbortSignal) => {
    const jobId = job.id ?? "";
    const videoId = videoIdOf(job);
    const attempt = Math.max(job.attemptsStarted ?? 0, job.attemptsMade + 1);
    const jobLog = log.child({ jobId, videoId, attempt });
    await takeTurnOrDefer(job, token, jobLog);
    const controller = new AbortController();
    controllers.set(jobId, controller);
    // Fetched in the instant the shutdown began: give it straight back.
    if (handingBack !== undefined) controller.abort(new HandBackError(handingBack));
    const signal = bullSignal ? AbortSignal.any([bullSignal, controller.signal]) : controller.signal;
    const started = Date.now();
    const ended = (outcome: JobOutcome, why?: "shutdown" | "lock_lost") =>
      safely(log, "jobEnded", () =>
        hooks.jobEnded?.({ jobId, videoId, attempt, outcome, why, durationMs: Date.now() - started }),
      );
    jobLog.info("job started");
    safely(log, "jobStarted", () => hooks.jobStarted?.({ jobId, videoId, attempt }));
    try {
      const result = await processJob(job, processorDeps(job, jobId), signal);
      ended("completed");
      return result;
    } catch (err) {
      // The video was deleted: over for good, whatever else happened (even a shutdown at the same time).
      if (err instanceof JobCancelledError) {
        ended("cancelled");
        throw err;
      }
      const reason: unknown = signal.aborted ? signal.reason : undefined;
      if (reason instanceof HandBackError) {
        // Back to the head of the wait list with its attempt count untouched: the next free node takes it.
        try {
          await job.moveToWait(token);
          jobLog.info("job handed back to the queue", { reason: reason.message });
        } catch (moveErr) {
          // The lock is gone already: the stalled check on another node puts it back instead.
          jobLog.warn("could not hand the job back; it will be recovered as stalled", errorFields(moveErr));
        }
        ended("handed_back", "shutdown");
        // BullMQ treats WaitingError as "moved elsewhere": no failed event, no attempt counted.
        throw new WaitingError();
      }
      if (reason instanceof LockLostError) {
        // Not ours any more: touching the job (failing it) could clobber the node that now runs it.
        jobLog.warn("job stopped: its lock was lost", { reason: reason.message });
        ended("handed_back", "lock_lost");
        throw new WaitingError();
      }
      ended("failed");
      throw err;
    } finally {
      controllers.delete(jobId);
    }
  };

  const worker = new Worker<unknown, TranscodeResult>(queueName, processor, {
    connection,
    concurrency: deps.concurrency ?? config.concurrency,
    // Renewed every lockDuration/2 by a timer: ffmpeg runs in a child process, so the loop stays free.
    lockDuration: config.lockDurationMs,
    stalledInterval: config.stalledIntervalMs,
    maxStalledCount: config.maxStalledCount,
  });
  // Without an "error" listener a Redis hiccup would crash the process (EventEmitter semantics).
  worker.on("error", (err) => log.error("worker error", errorFields(err)));
  worker.on("lockRenewalFailed", (jobIds) => {
    log.error("job lock renewal failed; stopping the jobs", { jobIds });
    safely(log, "lockLost", () => hooks.lockLost?.(jobIds));
    for (const jobId of jobIds) {
      controllers.get(jobId)?.abort(new LockLostError(`lock for job ${jobId} could not be renewed`));
    }
  });
  worker.on("stalled", (jobId, prev) => {
    log.warn("stalled job put back in the queue (its worker stopped renewing the lock)", { jobId, prev });
    safely(log, "stalled", () => hooks.stalled?.(jobId));
  });
  worker.on("failed", (job, err) =>
    log.warn("job attempt failed", {
      jobId: job?.id,
      videoId: job ? videoIdOf(job) : undefined,
      attemptsMade: job?.attemptsMade,
      ...errorFields(err),
    }),
  );
  worker.on("completed", (job) => log.info("job completed", { jobId: job.id, videoId: videoIdOf(job) }));
  // The connection is ours, not BullMQ's: close it with the worker.
  worker.on("closed", () => {
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

/** What a graceful stop needs of a worker: the transcode worker and the chunk worker both have it. */
export type DrainableWorker = Pick<TranscodeWorker, "close" | "runningJobIds" | "handBackAll">;

export interface Drain {
  /** Resolves once the worker is closed (jobs finished or handed back). */
  readonly closed: Promise<void>;
  /** Aborts the running jobs and hands them back to the queue now (second signal, grace over). */
  handBack(why: string): void;
}

/**
 * Graceful stop: takes no new job at once, lets the running ones finish within `graceMs`, then hands
 * the rest back to the queue (no attempt used) so another node starts them immediately.
 */
export function drainWorker(
  worker: DrainableWorker,
  opts: { graceMs: number; log: Logger; stuckMs?: number; onStuck?: (jobIds: string[]) => void },
): Drain {
  const { log } = opts;
  let handedBack = false;
  let graceTimer: NodeJS.Timeout | undefined;
  let stuckTimer: NodeJS.Timeout | undefined;
  const handBack = (why: string) => {
    if (handedBack) return;
    handedBack = true;
    clearTimeout(graceTimer);
    const jobIds = worker.handBackAll(why);
    log.warn("handing running jobs back to the queue", { why, jobIds });
    if (opts.onStuck && opts.stuckMs !== undefined) {
      const onStuck = opts.onStuck;
      stuckTimer = setTimeout(() => onStuck(worker.runningJobIds()), opts.stuckMs);
      stuckTimer.unref();
    }
  };
  log.info("draining: taking no new jobs", { graceMs: opts.graceMs, running: worker.runningJobIds() });
  // close() stops fetching at once and resolves when the running jobs have ended.
  const closed = worker.close().finally(() => {
    clearTimeout(graceTimer);
    clearTimeout(stuckTimer);
  });
  if (opts.graceMs <= 0) handBack("no shutdown grace (SHUTDOWN_GRACE_MS=0)");
  else graceTimer = setTimeout(() => handBack(`shutdown grace of ${opts.graceMs} ms ran out`), opts.graceMs);
  return { closed, handBack };
}
