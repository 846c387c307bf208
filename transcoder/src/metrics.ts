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
  /** Starts the per-job gauges; a job without a video id gets an empty video_id label. */
  jobStarted(jobId: string, videoId?: string): void;
  jobStats(jobId: string, stats: JobStats): void;
  jobEnded(jobId: string, outcome: JobOutcome, end?: JobEnd): void;
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
  /** Unix seconds the process started; defaults to now minus process.uptime(). */
  startTimeSeconds?: number;
}

export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const P = "streamlet_transcoder_";

type Labels = Record<string, string>;

/** Escapes a label value: backslash, double quote and newline, per the exposition format. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** Go-style float text: +Inf, -Inf and NaN spelled the way Prometheus parses them. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}

function sample(name: string, labels: Labels, value: number): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  return `${name}${pairs.length > 0 ? `{${pairs.join(",")}}` : ""} ${formatValue(value)}`;
}

function family(
  name: string,
  type: "counter" | "gauge" | "histogram",
  help: string,
  lines: string[],
): string[] {
  return [`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`, ...lines];
}

interface Histogram {
  buckets: number[];
  sum: number;
  count: number;
}

const isNumber = (v: number | undefined): v is number => typeof v === "number" && Number.isFinite(v);

/** One registry per process: the worker writes to it, the ops server renders it. */
export function createMetrics(options: MetricsOptions = {}): TranscoderMetrics {
  const startTime = options.startTimeSeconds ?? Date.now() / 1000 - process.uptime();
  const running = new Map<string, { videoId: string; fps?: number; realtimeFactor?: number }>();
  const jobs = new Map<JobOutcome, number>(JOB_OUTCOMES.map((o) => [o, 0]));
  const realtime = new Map<EncoderKind, Histogram>();
  let encoderInfo: { encoder: EncoderKind; reason: string } | null = null;
  let sessions: { inUse: number; limit: number } | null = null;

  const observe = (encoder: EncoderKind, value: number) => {
    let h = realtime.get(encoder);
    if (!h) {
      h = { buckets: REALTIME_FACTOR_BUCKETS.map(() => 0), sum: 0, count: 0 };
      realtime.set(encoder, h);
    }
    REALTIME_FACTOR_BUCKETS.forEach((le, i) => {
      if (value <= le) h.buckets[i] = (h.buckets[i] ?? 0) + 1;
    });
    h.sum += value;
    h.count += 1;
  };

  return {
    jobStarted(jobId, videoId) {
      running.set(jobId, { videoId: videoId ?? "" });
    },
    jobStats(jobId, stats) {
      const job = running.get(jobId);
      if (!job) return;
      if (isNumber(stats.fps)) job.fps = stats.fps;
      if (isNumber(stats.realtimeFactor)) job.realtimeFactor = stats.realtimeFactor;
    },
    jobEnded(jobId, outcome, end) {
      running.delete(jobId);
      jobs.set(outcome, (jobs.get(outcome) ?? 0) + 1);
      if (end && isNumber(end.realtimeFactor)) observe(end.encoder, end.realtimeFactor);
    },
    setEncoder(encoder, reason) {
      encoderInfo = { encoder, reason };
    },
    setSessions(inUse, limit) {
      sessions = { inUse, limit };
    },
    get jobsInProgress() {
      return running.size;
    },
    async render() {
      // Fetch first: the scrape may wait on Redis, and the job gauges should be as fresh as possible.
      const depth = options.queueDepth ? await options.queueDepth().catch(() => null) : null;
      const up = options.up ? safe(options.up) : true;
      const perJob = (name: string, key: "fps" | "realtimeFactor") =>
        [...running].flatMap(([jobId, job]) => {
          const value = job[key];
          return value === undefined ? [] : [sample(name, { job_id: jobId, video_id: job.videoId }, value)];
        });
      const out = [
        ...family(`${P}up`, "gauge", "1 while the worker runs and is connected to Redis.", [
          sample(`${P}up`, {}, up ? 1 : 0),
        ]),
        ...family(
          "process_start_time_seconds",
          "gauge",
          "Start time of the process since unix epoch in seconds.",
          [sample("process_start_time_seconds", {}, Math.floor(startTime))],
        ),
        ...family(
          `${P}jobs_total`,
          "counter",
          "Job attempts that left this worker, by outcome (handed_back: returned to the queue).",
          JOB_OUTCOMES.map((o) => sample(`${P}jobs_total`, { outcome: o }, jobs.get(o) ?? 0)),
        ),
        ...family(`${P}jobs_in_progress`, "gauge", "Jobs this worker is running now.", [
          sample(`${P}jobs_in_progress`, {}, running.size),
        ]),
        ...family(
          `${P}job_encode_fps`,
          "gauge",
          "Frames per second of each running job's encode.",
          perJob(`${P}job_encode_fps`, "fps"),
        ),
        ...family(
          `${P}job_realtime_factor`,
          "gauge",
          "Media seconds encoded per wall-clock second, per running job (below 1: slower than real time).",
          perJob(`${P}job_realtime_factor`, "realtimeFactor"),
        ),
        ...family(
          `${P}encode_realtime_factor`,
          "histogram",
          "Whole-job realtime factor of finished encodes, by encoder.",
          [...realtime].flatMap(([encoder, h]) => [
            ...REALTIME_FACTOR_BUCKETS.map((le, i) =>
              sample(
                `${P}encode_realtime_factor_bucket`,
                { encoder, le: formatValue(le) },
                h.buckets[i] ?? 0,
              ),
            ),
            sample(`${P}encode_realtime_factor_bucket`, { encoder, le: "+Inf" }, h.count),
            sample(`${P}encode_realtime_factor_sum`, { encoder }, h.sum),
            sample(`${P}encode_realtime_factor_count`, { encoder }, h.count),
          ]),
        ),
        ...family(
          `${P}encoder_info`,
          "gauge",
          "The video encoder this worker uses and why it was chosen (always 1).",
          encoderInfo
            ? [sample(`${P}encoder_info`, { encoder: encoderInfo.encoder, reason: encoderInfo.reason }, 1)]
            : [],
        ),
        ...family(
          `${P}nvenc_sessions_in_use`,
          "gauge",
          "NVENC encode sessions this worker holds now.",
          sessions ? [sample(`${P}nvenc_sessions_in_use`, {}, sessions.inUse)] : [],
        ),
        ...family(
          `${P}nvenc_session_limit`,
          "gauge",
          "NVENC sessions this worker allows itself (NVENC_SESSION_LIMIT).",
          sessions ? [sample(`${P}nvenc_session_limit`, {}, sessions.limit)] : [],
        ),
        ...family(
          `${P}queue_depth`,
          "gauge",
          "Jobs in the transcode queue by state (shared by all workers; absent when Redis did not answer).",
          depth ? Object.entries(depth).map(([state, n]) => sample(`${P}queue_depth`, { state }, n)) : [],
        ),
      ];
      return `${out.join("\n")}\n`;
    },
  };
}

function safe(fn: () => boolean): boolean {
  try {
    return fn();
  } catch {
    return false;
  }
}
