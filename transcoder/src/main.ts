import { DEFAULT_LADDER, TRANSCODE_QUEUE } from "@streamlet/shared";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { createChunkWorker } from "./chunked/chunk-worker.ts";
import { createQueueChunkRunner } from "./chunked/queue-runner.ts";
import { createSourceCache } from "./chunked/source-cache.ts";
import { CHUNK_QUEUE } from "./chunked/types.ts";
import { type Config, ConfigError, loadConfig } from "./config.ts";
import { createDashboard, DASHBOARD_PATH } from "./dashboard.ts";
import { createLogger, errorFields } from "./log.ts";
import {
  checkTools,
  type EncoderProbeResult,
  type EncoderSpec,
  NvencUnavailableError,
  probeEncoder,
} from "./media/index.ts";
import { createMetrics } from "./metrics.ts";
import { jobConcurrency, SessionBudget } from "./nvenc-budget.ts";
import { deriveHealth, startOpsServer } from "./ops-server.ts";
import { createQueueDepth } from "./queue-depth.ts";
import { createStorage } from "./storage.ts";
import { createWorker, type Drain, drainWorker } from "./worker.ts";

/** How long jobs may take to stop once handed back before the process exits anyway. */
const HAND_BACK_TIMEOUT_MS = 30_000;
const log = createLogger({ service: "transcoder" });

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      log.error("invalid configuration", { error: err.message });
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  // Missing tools or no libx264: fail at start-up instead of failing every job later.
  await checkTools(config);

  // The encoder: a real one-second encode decides (ENCODER=nvenc refuses to start without NVENC).
  let probe: EncoderProbeResult;
  try {
    probe = await probeEncoder({ ffmpegPath: config.ffmpegPath, want: config.encoder });
  } catch (err) {
    if (err instanceof NvencUnavailableError) {
      log.error("encoder unavailable", {
        kind: err.failure.kind,
        error: err.failure.message,
        hint: err.failure.hint,
      });
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const x264: EncoderSpec = { kind: "x264", preset: config.x264Preset };
  let encoder: EncoderSpec = probe.nvencSpec ?? x264;
  const reason = (p: EncoderProbeResult) =>
    p.encoder === "nvenc" ? "probe_ok" : p.nvenc.probed ? (p.nvenc.failure?.kind ?? "unknown") : "configured";
  log.info("encoder selected", {
    encoder: encoder.kind,
    want: config.encoder,
    line: probe.line,
    ...(probe.nvenc.failure
      ? { nvencFailure: probe.nvenc.failure.kind, hint: probe.nvenc.failure.hint }
      : {}),
  });

  // NVENC sessions: each rung of a running job holds one; jobs at once follow from the budget.
  const concurrency = jobConcurrency({
    encoder: encoder.kind,
    sessionLimit: config.nvencSessionLimit,
    rungsPerJob: DEFAULT_LADDER.length,
    requested: config.concurrency,
  });
  if (concurrency < config.concurrency) {
    log.warn("concurrency lowered to fit the NVENC session budget", {
      requested: config.concurrency,
      concurrency,
      nvencSessionLimit: config.nvencSessionLimit,
      rungsPerJob: DEFAULT_LADDER.length,
    });
  }

  // Metrics and health on the ops port. Queue depth has its own connection that fails fast, so a
  // scrape during a Redis outage answers at once instead of queueing behind the worker's retries.
  const countsConnection = new Redis(config.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
  countsConnection.on("error", () => {}); // reported by /healthz and the worker's own error log
  const countsQueue = new Queue(TRANSCODE_QUEUE, { connection: countsConnection });
  countsQueue.on("error", () => {}); // the same: /healthz says redis_down, the worker logs the cause
  let ready = false;
  let draining = false;
  const health = () =>
    deriveHealth({
      ready,
      draining,
      // The worker's own connection: what decides whether this node can take jobs.
      redisStatus: worker.redisStatus(),
      encoder: encoder.kind,
      jobsInProgress: metrics.jobsInProgress,
    });
  const metrics = createMetrics({
    queueDepth: createQueueDepth(countsQueue),
    up: () => health().status === "ok",
  });
  metrics.setEncoder(encoder.kind, reason(probe));
  const sessions = new SessionBudget(config.nvencSessionLimit, (inUse, limit) =>
    metrics.setSessions(inUse, limit),
  );
  metrics.setSessions(0, config.nvencSessionLimit);

  // After a GPU failure mid-job (not a busy GPU), probe again before the next job: the driver or the
  // device may be gone for good, and later jobs should not each fail over to x264 the slow way.
  let reprobing = false;
  const onNvencFailure = (decision: { reprobe: boolean }) => {
    if (!decision.reprobe || reprobing) return;
    reprobing = true;
    // The probe opens an NVENC session too: it waits its turn in the budget like a job would.
    sessions
      .run(1, () => probeEncoder({ ffmpegPath: config.ffmpegPath, want: "auto" }))
      .then((again) => {
        // A busy GPU (session cap) is not a broken one: keep NVENC.
        if (again.nvenc.failure?.kind === "session_limit") return;
        encoder = again.nvencSpec ?? x264;
        metrics.setEncoder(encoder.kind, reason(again));
        log.warn("encoder re-probed after an NVENC failure", { encoder: encoder.kind, line: again.line });
      })
      .catch((err) => log.error("encoder re-probe failed", errorFields(err)))
      .finally(() => {
        reprobing = false;
      });
  };

  // The finished encode of each running job (encoder, realtime factor), for the histogram at its end.
  const lastEncode = new Map<string, { encoder: EncoderSpec["kind"]; realtimeFactor: number }>();
  // Chunks are jobs of their own (CHUNK_QUEUE): this node encodes any video's chunks, `concurrency` at a
  // time, while each video's coordinator (the worker below) queues its chunks and publishes them as they land.
  // One download of a source per node: the coordinator and the chunks this node encodes share it.
  const sources = createSourceCache({ storage: createStorage(config.s3), workDir: config.workDir, log });
  const chunkWorker = createChunkWorker(config, {
    log,
    sources,
    encoder: () => encoder,
    sessions,
    concurrency,
    hooks: { chunkEnded: ({ outcome }) => metrics.chunkEnded(outcome) },
  });
  const runnerConnection = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
  runnerConnection.on("error", (err) => log.error("chunk runner redis error", errorFields(err)));
  const chunkRunner = createQueueChunkRunner({ connection: runnerConnection, log });
  const worker = createWorker(config, {
    log,
    encoder: () => encoder,
    sessions,
    // A coordinator mostly waits for its chunks: several videos at once, so a new one's first chunk
    // is queued (and played) while a long one is still encoding.
    concurrency: config.coordinatorConcurrency,
    chunkRunner,
    sources,
    onNvencFailure,
    hooks: {
      jobStarted: ({ jobId }) => metrics.jobStarted(jobId),
      jobDeferred: ({ reason }) => metrics.jobDeferred(reason),
      jobStats: ({ jobId, fps, speed }) =>
        metrics.jobStats(jobId, { fps: fps ?? undefined, realtimeFactor: speed ?? undefined }),
      encoded: ({ jobId, encoder: used, realtimeFactor }) => {
        lastEncode.set(jobId, { encoder: used, realtimeFactor });
        metrics.jobStats(jobId, { realtimeFactor });
      },
      jobEnded: ({ jobId, outcome }) => {
        const end = lastEncode.get(jobId);
        lastEncode.delete(jobId);
        // Only a completed job's encode speed goes into the histogram.
        metrics.jobEnded(
          jobId,
          outcome,
          outcome === "completed" && end ? end : { encoder: end?.encoder ?? encoder.kind },
        );
      },
    },
  });
  const onOpsError = (err: unknown) => log.error("ops endpoint failed", errorFields(err));
  // The queues in bull-board at /queues, only when OPS_DASHBOARD_TOKEN is set.
  const dashboard =
    config.ops.dashboardToken === null
      ? undefined
      : createDashboard({
          redisUrl: config.redisUrl,
          token: config.ops.dashboardToken,
          queueNames: [TRANSCODE_QUEUE, CHUNK_QUEUE],
          onError: onOpsError,
        });
  const ops = await startOpsServer({
    port: config.ops.port,
    host: config.ops.host,
    metrics,
    health,
    dashboard,
    onError: onOpsError,
  });
  let drain: Drain | undefined;
  const shutdown = (signal: string) => {
    if (drain) {
      log.warn("second signal: handing running jobs back now", { signal });
      drain.handBack(`second ${signal}`);
      return;
    }
    log.info("shutting down: taking no new jobs, finishing the running ones", {
      signal,
      graceMs: config.shutdownGraceMs,
    });
    const drainOptions = {
      graceMs: config.shutdownGraceMs,
      log,
      // A job that ignores its abort (a wedged upload) must not keep the node up forever: exit, and the
      // stalled check on another node recovers it.
      stuckMs: HAND_BACK_TIMEOUT_MS,
      onStuck: (jobIds: string[]) => {
        log.error("jobs did not stop after being handed back; exiting", { jobIds });
        process.exit(1);
      },
    };
    const drains = [drainWorker(worker, drainOptions), drainWorker(chunkWorker, drainOptions)];
    drain = {
      closed: Promise.all(drains.map((d) => d.closed)).then(async () => {
        await chunkRunner.close().catch(() => undefined);
        sources.close();
        runnerConnection.disconnect();
      }),
      handBack: (why) => {
        for (const d of drains) d.handBack(why);
      },
    };
    draining = true;
    drain.closed.then(
      async () => {
        await ops.close().catch(() => undefined);
        await dashboard?.close();
        await countsQueue.close().catch(() => undefined);
        countsConnection.disconnect();
        log.info("stopped");
        process.exit(0);
      },
      (err) => {
        log.error("error while closing the worker", errorFields(err));
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));

  await Promise.all([worker.waitUntilReady(), chunkWorker.waitUntilReady()]);
  ready = true;
  log.info("ready", {
    queue: TRANSCODE_QUEUE,
    chunkQueue: CHUNK_QUEUE,
    concurrency,
    coordinatorConcurrency: config.coordinatorConcurrency,
    encoder: encoder.kind,
    ops: ops.url,
    dashboard: dashboard ? `${ops.url}${DASHBOARD_PATH}` : null,
    preset: config.x264Preset,
    workDir: config.workDir,
    lockDurationMs: config.lockDurationMs,
    stalledIntervalMs: config.stalledIntervalMs,
    maxStalledCount: config.maxStalledCount,
    shutdownGraceMs: config.shutdownGraceMs,
  });
}

// A stray rejection is a bug to log, not a reason to drop the jobs in flight.
process.on("unhandledRejection", (err) => log.error("unhandled rejection", errorFields(err)));

main().catch((err) => {
  log.error("fatal", errorFields(err));
  process.exit(1);
});
