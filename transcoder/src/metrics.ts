import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { DEFER_REASONS, type DeferReason } from "./fair-share.ts";
import type { QueueDepth } from "./queue-depth.ts";

/** How a job attempt left this worker; "handed_back" means it went back to the queue (shutdown, lost lock). */
export type JobOutcome = "completed" | "failed" | "cancelled" | "handed_back";
export type EncoderKind = "nvenc" | "x264";

export const JOB_OUTCOMES: readonly JobOutcome[] = ["completed", "failed", "cancelled", "handed_back"];

/** Realtime-factor buckets (media seconds per wall second): below 1 a node falls behind its uploads. */
export const REALTIME_FACTOR_BUCKETS = [0.25, 0.5, 1, 2, 4, 8, 16, 32] as const;

export interface JobStats {
  /** Frames encoded per second, as ffmpeg reports it. */
  fps?: number;
  /** Media seconds encoded per wall-clock second (ffmpeg's `speed`). */
  realtimeFactor?: number;
}

export interface JobEnd {
  encoder: EncoderKind;
  /** Whole-job realtime factor; pass it for completed jobs to feed the histogram. */
  realtimeFactor?: number;
}

/** What the worker reports and what /metrics renders; every method is cheap and never throws. */
export interface TranscoderMetrics {
  /** A job began on this node: it counts in jobs_in_progress and its live figures in the job gauges. */
  jobStarted(jobId: string): void;
  jobStats(jobId: string, stats: JobStats): void;
  jobEnded(jobId: string, outcome: JobOutcome, end?: JobEnd): void;
  /** A job went back to the queue before running (e.g. its owner had too many jobs in flight). */
  jobDeferred(reason: DeferReason): void;
  /** A chunk job attempt (chunked encoding) left this node. */
  chunkEnded(outcome: JobOutcome): void;
  /** The encoder the start-up probe chose and why (e.g. "probe_ok", "no_nvenc_device", "configured"). */
  setEncoder(encoder: EncoderKind, reason: string): void;
  setSessions(inUse: number, limit: number): void;
  readonly jobsInProgress: number;
  /** Prometheus text exposition format 0.0.4. */
  render(): Promise<string>;
}

export interface MetricsOptions {
  /** Queue depth at scrape time (see queue-depth.ts); null when unknown, so no stale numbers are shown. */
  queueDepth?: () => Promise<QueueDepth | null>;
  /** 1 while the worker runs and reaches Redis (what /healthz answers 200 for). */
  up?: () => boolean;
}

/** The exposition format prom-client renders (text 0.0.4). */
export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

const P = "streamlet_transcoder_";

const isNumber = (v: number | undefined): v is number => typeof v === "number" && Number.isFinite(v);

function safe(fn: () => boolean): boolean {
  try {
    return fn();
  } catch {
    return false;
  }
}

/**
 * One prom-client registry per process: the worker writes to it, the ops server renders it, with the
 * standard process and Node.js metrics (process_start_time_seconds, process_cpu_seconds_total,
 * nodejs_heap_size_used_bytes, …) beside ours. No metric carries a job or video id: those are unbounded
 * series, and an unlisted video's id must not leak to whoever reads the metrics. The live per-job figures
 * are folded into one value each: the slowest running job's.
 */
export function createMetrics(options: MetricsOptions = {}): TranscoderMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const running = new Map<string, JobStats>();
  const registers = [registry];

  /** The lowest live figure among running jobs; the series is absent while no job reports one. */
  const slowest = (gauge: Gauge, key: keyof JobStats) => {
    const values = [...running.values()].map((j) => j[key]).filter(isNumber);
    if (values.length === 0) gauge.remove();
    else gauge.set(Math.min(...values));
  };

  new Gauge({
    name: `${P}up`,
    help: "1 while the worker runs and is connected to Redis.",
    registers,
    collect() {
      this.set(options.up ? (safe(options.up) ? 1 : 0) : 1);
    },
  });
  const jobsTotal = new Counter({
    name: `${P}jobs_total`,
    help: "Job attempts that left this worker, by outcome (handed_back: returned to the queue).",
    labelNames: ["outcome"],
    registers,
  });
  for (const outcome of JOB_OUTCOMES) jobsTotal.inc({ outcome }, 0);
  const deferredTotal = new Counter({
    name: `${P}jobs_deferred_total`,
    help: "Jobs this worker put back in the queue (delayed, no attempt used) before running them, by reason (user_in_flight: the owner had MAX_JOBS_IN_FLIGHT_PER_USER jobs running).",
    labelNames: ["reason"],
    registers,
  });
  for (const reason of DEFER_REASONS) deferredTotal.inc({ reason }, 0);
  const chunksTotal = new Counter({
    name: `${P}chunks_total`,
    help: "Chunk job attempts (chunked encoding) that left this worker, by outcome (handed_back: returned to the queue).",
    labelNames: ["outcome"],
    registers,
  });
  for (const outcome of JOB_OUTCOMES) chunksTotal.inc({ outcome }, 0);
  new Gauge({
    name: `${P}jobs_in_progress`,
    help: "Jobs this worker is running now.",
    registers,
    collect() {
      this.set(running.size);
    },
  });
  new Gauge({
    name: `${P}job_encode_fps`,
    help: "Frames per second of the slowest running encode on this worker (absent while none reports).",
    registers,
    collect() {
      slowest(this, "fps");
    },
  });
  new Gauge({
    name: `${P}job_realtime_factor`,
    help: "Media seconds encoded per wall-clock second of the slowest running job on this worker (below 1: slower than real time; absent while none reports).",
    registers,
    collect() {
      slowest(this, "realtimeFactor");
    },
  });
  const realtime = new Histogram({
    name: `${P}encode_realtime_factor`,
    help: "Whole-job realtime factor of finished encodes, by encoder.",
    labelNames: ["encoder"],
    buckets: [...REALTIME_FACTOR_BUCKETS],
    registers,
  });
  const encoderInfo = new Gauge({
    name: `${P}encoder_info`,
    help: "The video encoder this worker uses and why it was chosen (always 1).",
    labelNames: ["encoder", "reason"],
    registers,
  });
  const sessionsInUse = new Gauge({
    name: `${P}nvenc_sessions_in_use`,
    help: "NVENC encode sessions this worker holds now.",
    registers,
  });
  const sessionLimit = new Gauge({
    name: `${P}nvenc_session_limit`,
    help: "NVENC sessions this worker allows itself (NVENC_SESSION_LIMIT).",
    registers,
  });
  // Absent until the worker says (an unlabelled gauge would otherwise read 0 from the start).
  sessionsInUse.remove();
  sessionLimit.remove();
  new Gauge({
    name: `${P}queue_depth`,
    help: "Jobs in the transcode queue by state (shared by all workers; absent when Redis did not answer).",
    labelNames: ["state"],
    registers,
    async collect() {
      const depth = options.queueDepth ? await options.queueDepth().catch(() => null) : null;
      this.reset();
      for (const [state, n] of Object.entries(depth ?? {})) this.set({ state }, n);
    },
  });

  return {
    jobStarted(jobId) {
      running.set(jobId, {});
    },
    jobStats(jobId, stats) {
      const job = running.get(jobId);
      if (!job) return;
      if (isNumber(stats.fps)) job.fps = stats.fps;
      if (isNumber(stats.realtimeFactor)) job.realtimeFactor = stats.realtimeFactor;
    },
    jobEnded(jobId, outcome, end) {
      running.delete(jobId);
      jobsTotal.inc({ outcome });
      if (end && isNumber(end.realtimeFactor)) realtime.observe({ encoder: end.encoder }, end.realtimeFactor);
    },
    jobDeferred(reason) {
      deferredTotal.inc({ reason });
    },
    chunkEnded(outcome) {
      chunksTotal.inc({ outcome });
    },
    setEncoder(encoder, reason) {
      encoderInfo.reset();
      encoderInfo.set({ encoder, reason }, 1);
    },
    setSessions(inUse, limit) {
      sessionsInUse.set(inUse);
      sessionLimit.set(limit);
    },
    get jobsInProgress() {
      return running.size;
    },
    render: () => registry.metrics(),
  };
}
