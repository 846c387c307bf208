import { TRANSCODE_QUEUE } from "@streamlet/shared";
import { Worker } from "bullmq";
import { Redis } from "ioredis";
import type { Config } from "./config.ts";
import { errorFields, type Logger } from "./log.ts";
import { type OpenProgress, processJob, type TranscodeResult } from "./process-job.ts";
import { createProgressPublisher } from "./progress-publisher.ts";
import { createStorage, type Storage } from "./storage.ts";

/** Long enough that a busy event loop never loses the lock mid-encode; BullMQ renews it at half this. */
export const LOCK_DURATION_MS = 5 * 60 * 1000;

export interface WorkerDeps {
  log: Logger;
  storage?: Storage;
  /** Progress channel override (tests); by default a socket to the video's DO on the edge. */
  openProgress?: OpenProgress;
  /** Queue name override, for tests that need their own queue. */
  queueName?: string;
}

/** Builds the BullMQ worker that turns queued uploads into HLS ladders. */
export function createWorker(config: Config, deps: WorkerDeps): Worker<unknown, TranscodeResult> {
  // BullMQ requires maxRetriesPerRequest: null for the blocking connection a worker uses.
  const connection = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
  const storage = deps.storage ?? createStorage(config.s3);
  const log = deps.log;
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
  const processorDeps = {
    storage,
    openProgress,
    log,
    workDir: config.workDir,
    ffmpegPath: config.ffmpegPath,
    ffprobePath: config.ffprobePath,
    encoder: { kind: config.encoder, preset: config.x264Preset },
  };

  const worker = new Worker<unknown, TranscodeResult>(
    deps.queueName ?? TRANSCODE_QUEUE,
    (job, _token, signal) => processJob(job, processorDeps, signal),
    { connection, concurrency: config.concurrency, lockDuration: LOCK_DURATION_MS },
  );
  // Without an "error" listener a Redis hiccup would crash the process (EventEmitter semantics).
  worker.on("error", (err) => log.error("worker error", errorFields(err)));
  worker.on("failed", (job, err) =>
    log.warn("job attempt failed", { jobId: job?.id, attemptsMade: job?.attemptsMade, ...errorFields(err) }),
  );
  worker.on("completed", (job) => log.info("job completed", { jobId: job.id }));
  // The connection is ours, not BullMQ's: close it with the worker.
  worker.on("closed", () => {
    connection.quit().catch(() => connection.disconnect());
  });
  return worker;
}
