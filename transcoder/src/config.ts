import os from "node:os";
import { z } from "zod";
import { type AddressPolicy, parseAllowedAddresses } from "./import/address-policy.ts";
import { DEFAULT_SOURCE_LIMITS, type SourceLimits } from "./media/index.ts";

const X264_PRESETS = [
  "ultrafast",
  "superfast",
  "veryfast",
  "faster",
  "fast",
  "medium",
  "slow",
  "slower",
  "veryslow",
] as const;

const ENCODERS = ["auto", "nvenc", "x264"] as const;

/** A whole number within [min, max] with a default; `message` says what is wrong, whatever it is. */
const bounded = (message: string, min: number, max: number, fallback: number) =>
  z.coerce.number({ message }).int({ message }).min(min, { message }).max(max, { message }).default(fallback);

/** A whole number of milliseconds within [min, max]. */
const millis = (name: string, min: number, max: number, fallback: number, note = "") =>
  bounded(`${name} must be a whole number of milliseconds from ${min} to ${max}${note}`, min, max, fallback);

/** A whole number within [min, max]. */
const wholeNumber = (name: string, min: number, max: number, fallback: number) =>
  bounded(`${name} must be a whole number from ${min} to ${max}`, min, max, fallback);

const HOUR_MS = 60 * 60 * 1000;

const httpUrl = (name: string) =>
  z
    .url({ protocol: /^https?$/, message: `${name} must be an http(s) URL` })
    .transform((u) => u.replace(/\/+$/, ""));

/**
 * ffmpeg's wall-clock limit: 20 s per second of video (a 2-core node encodes the default ladder at
 * ~0.66x realtime, i.e. 1.5 s per second; 20 leaves room for 4K sources and shared CPUs), never under
 * 10 min (short clips, slow starts).
 */
export const DEFAULT_FFMPEG_TIME_LIMIT = Object.freeze({ factor: 20, minimumMs: 10 * 60 * 1000 });

const EnvSchema = z.object({
  REDIS_URL: z.url({ protocol: /^rediss?$/, message: "REDIS_URL must be a redis:// or rediss:// URL" }),
  S3_ENDPOINT: httpUrl("S3_ENDPOINT"),
  S3_BUCKET: z.string().min(1),
  S3_REGION: z.string().min(1).default("us-east-1"),
  S3_ACCESS_KEY_ID: z.string().min(1),
  S3_SECRET_ACCESS_KEY: z.string().min(1),
  EDGE_URL: httpUrl("EDGE_URL"),
  TRANSCODER_SECRET: z.string().min(16, { message: "TRANSCODER_SECRET must be at least 16 characters" }),
  TRANSCODER_CONCURRENCY: wholeNumber("TRANSCODER_CONCURRENCY", 1, 32, 1),
  COORDINATOR_CONCURRENCY: wholeNumber("COORDINATOR_CONCURRENCY", 1, 64, 4),
  MAX_JOBS_IN_FLIGHT_PER_USER: wholeNumber("MAX_JOBS_IN_FLIGHT_PER_USER", 1, 64, 2),
  PROGRESS_ACK_TIMEOUT_MS: millis("PROGRESS_ACK_TIMEOUT_MS", 1000, 600_000, 60_000),
  X264_PRESET: z.enum(X264_PRESETS).default("veryfast"),
  WORK_DIR: z.string().min(1).default(os.tmpdir()),
  FFMPEG_PATH: z.string().min(1).default("ffmpeg"),
  FFPROBE_PATH: z.string().min(1).default("ffprobe"),
  ENCODER: z.enum(ENCODERS, { message: 'ENCODER must be "auto", "nvenc" or "x264"' }).default("auto"),
  NVENC_SESSION_LIMIT: wholeNumber("NVENC_SESSION_LIMIT", 1, 64, 8),
  OPS_PORT: wholeNumber("OPS_PORT", 0, 65_535, 9464),
  // Loopback unless asked: /metrics and /healthz are for this host's probes and scrapers. The container
  // image sets OPS_HOST=0.0.0.0 so other containers (Prometheus) can scrape it.
  OPS_HOST: z.string().min(1).default("127.0.0.1"),
  // Unset: no queue dashboard (/queues answers 404). Set: the dashboard's password or Bearer token.
  OPS_DASHBOARD_TOKEN: z
    .string()
    .min(24, { message: "OPS_DASHBOARD_TOKEN must be at least 24 characters (e.g. openssl rand -hex 24)" })
    .optional(),
  LOCK_DURATION_MS: millis("LOCK_DURATION_MS", 1000, HOUR_MS, 5 * 60 * 1000),
  STALLED_INTERVAL_MS: millis("STALLED_INTERVAL_MS", 500, HOUR_MS, 30_000),
  MAX_STALLED_COUNT: wholeNumber("MAX_STALLED_COUNT", 0, 100, 2),
  ENCODE_STALL_TIMEOUT_MS: millis("ENCODE_STALL_TIMEOUT_MS", 1000, HOUR_MS, 5 * 60 * 1000),
  MAX_SOURCE_DURATION_SECONDS: wholeNumber(
    "MAX_SOURCE_DURATION_SECONDS",
    1,
    7 * 24 * 3600,
    DEFAULT_SOURCE_LIMITS.maxDurationSeconds,
  ),
  MAX_SOURCE_WIDTH: wholeNumber("MAX_SOURCE_WIDTH", 16, 65_536, DEFAULT_SOURCE_LIMITS.maxWidth),
  MAX_SOURCE_HEIGHT: wholeNumber("MAX_SOURCE_HEIGHT", 16, 65_536, DEFAULT_SOURCE_LIMITS.maxHeight),
  MAX_SOURCE_PIXEL_RATE: wholeNumber("MAX_SOURCE_PIXEL_RATE", 1000, 1e12, DEFAULT_SOURCE_LIMITS.maxPixelRate),
  MAX_SOURCE_FPS: wholeNumber("MAX_SOURCE_FPS", 1, 10_000, DEFAULT_SOURCE_LIMITS.maxFps),
  FFMPEG_TIME_LIMIT_FACTOR: wholeNumber(
    "FFMPEG_TIME_LIMIT_FACTOR",
    1,
    10_000,
    DEFAULT_FFMPEG_TIME_LIMIT.factor,
  ),
  FFMPEG_MIN_TIME_LIMIT_MS: millis(
    "FFMPEG_MIN_TIME_LIMIT_MS",
    10_000,
    24 * HOUR_MS,
    DEFAULT_FFMPEG_TIME_LIMIT.minimumMs,
  ),
  // Measured: the default ladder from 1080p peaks at 1.3 GB of address space on 2 cores and 3.4 GB with
  // 24 x264 threads a rung (a 16-core node); 8 GB leaves room. 0: no ceiling.
  FFMPEG_MEMORY_LIMIT_MB: wholeNumber("FFMPEG_MEMORY_LIMIT_MB", 0, 1_048_576, 8192),
  // Sources imported from URLs (POST /v1/videos with source.url): CIDRs allowed although private
  // (tests, private deployments; cloud metadata addresses stay refused), and the longest an import may take.
  IMPORT_ALLOWED_ADDRESSES: z.string().optional(),
  IMPORT_TIMEOUT_MS: millis("IMPORT_TIMEOUT_MS", 1000, 7 * 24 * HOUR_MS, 2 * HOUR_MS),
  SHUTDOWN_GRACE_MS: millis(
    "SHUTDOWN_GRACE_MS",
    0,
    24 * HOUR_MS,
    5 * 60 * 1000,
    " (0 hands jobs back at once)",
  ),
});

export type X264Preset = (typeof X264_PRESETS)[number];
/** The encoder an operator asks for; "auto" is resolved by the start-up probe, not here. */
export type WantedEncoder = (typeof ENCODERS)[number];

export interface Config {
  readonly redisUrl: string;
  readonly s3: {
    readonly endpoint: string;
    readonly bucket: string;
    readonly region: string;
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
  };
  /** Where progress goes: the publisher socket to each video's Durable Object. */
  readonly edgeUrl: string;
  readonly transcoderSecret: string;
  /** How long a terminal progress event may wait for the DO's ack before the attempt fails (retried). */
  readonly progressAckTimeoutMs: number;
  readonly concurrency: number;
  /** Videos this node coordinates at once (COORDINATOR_CONCURRENCY): download, probe, audio, publishing. */
  readonly coordinatorConcurrency: number;
  /**
   * Jobs of one owner running at once across all nodes; a job over it goes back to the queue (delayed,
   * no attempt used) so other users' jobs run meanwhile.
   */
  readonly maxJobsInFlightPerUser: number;
  readonly x264Preset: X264Preset;
  readonly workDir: string;
  readonly ffmpegPath: string;
  readonly ffprobePath: string;
  /** The encoder asked for (ENCODER); the start-up probe turns "auto" into the one this node can run. */
  readonly encoder: WantedEncoder;
  /** Concurrent NVENC sessions this GPU allows (one ladder rung = one session). */
  readonly nvencSessionLimit: number;
  /**
   * Where /healthz and /metrics listen (port 0: any free port); `dashboardToken` (OPS_DASHBOARD_TOKEN)
   * turns on the read-only queue dashboard at /queues behind it, null: no dashboard.
   */
  readonly ops: { readonly host: string; readonly port: number; readonly dashboardToken: string | null };
  /** How long a job's lock lasts; BullMQ renews it every half of this while the job runs. */
  readonly lockDurationMs: number;
  /** An ffmpeg that prints nothing for this long is killed and the attempt fails (retried). */
  readonly encodeStallTimeoutMs: number;
  /** How often this node looks for jobs whose worker died (lock expired) and puts them back in the queue. */
  readonly stalledIntervalMs: number;
  /** How many times a job may be found stalled (its worker died) before it fails for good. */
  readonly maxStalledCount: number;
  /** On SIGTERM, how long running jobs may go on before they are handed back to the queue. */
  readonly shutdownGraceMs: number;
  /** What an upload may ask for (duration, picture size, pixel rate, frame rate), checked at probe time. */
  readonly sourceLimits: Readonly<SourceLimits>;
  /** URL imports: the addresses allowed although private, and the longest an import may take. */
  readonly imports: Readonly<{ policy: AddressPolicy; timeoutMs: number }>;
  /**
   * Wall-clock limit of each ffmpeg run over a source: `factor` seconds per second of video, at least
   * `minimumMs`; a run past it is killed and the job fails for good.
   */
  readonly ffmpegTimeLimit: { readonly factor: number; readonly minimumMs: number };
  /**
   * Address-space ceiling (RLIMIT_AS, via prlimit) of every ffmpeg/ffprobe run over a source, except
   * NVENC encodes (CUDA reserves far more address space than it uses); null: none (FFMPEG_MEMORY_LIMIT_MB=0).
   */
  readonly ffmpegMemoryLimitBytes: number | null;
}

/** Thrown at start-up so a misconfigured worker dies with every problem listed at once. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Parses the environment once so a bad deployment fails at start-up, not in the middle of a job. */
/** IMPORT_ALLOWED_ADDRESSES parsed; a malformed entry stops the node at start-up, naming the variable. */
function allowedAddresses(value: string | undefined) {
  try {
    return parseAllowedAddresses(value);
  } catch (error) {
    throw new ConfigError(
      `Invalid transcoder configuration:\n  - IMPORT_ALLOWED_ADDRESSES: ${(error as Error).message}`,
    );
  }
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // An empty variable (`FOO=` in a .env file) means "unset", so defaults apply.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const parsed = EnvSchema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const name = issue.path.join(".") || "(env)";
      const message =
        issue.code === "invalid_type" && cleaned[name] === undefined ? "is required" : issue.message;
      return `  - ${name}: ${message}`;
    });
    throw new ConfigError(`Invalid transcoder configuration:\n${lines.join("\n")}`);
  }
  const e = parsed.data;
  return Object.freeze({
    redisUrl: e.REDIS_URL,
    s3: Object.freeze({
      endpoint: e.S3_ENDPOINT,
      bucket: e.S3_BUCKET,
      region: e.S3_REGION,
      accessKeyId: e.S3_ACCESS_KEY_ID,
      secretAccessKey: e.S3_SECRET_ACCESS_KEY,
    }),
    edgeUrl: e.EDGE_URL,
    transcoderSecret: e.TRANSCODER_SECRET,
    progressAckTimeoutMs: e.PROGRESS_ACK_TIMEOUT_MS,
    concurrency: e.TRANSCODER_CONCURRENCY,
    /** Videos this node coordinates at once (download, probe, audio, publishing); chunks are jobs of their own. */
    coordinatorConcurrency: e.COORDINATOR_CONCURRENCY,
    maxJobsInFlightPerUser: e.MAX_JOBS_IN_FLIGHT_PER_USER,
    x264Preset: e.X264_PRESET,
    workDir: e.WORK_DIR,
    ffmpegPath: e.FFMPEG_PATH,
    ffprobePath: e.FFPROBE_PATH,
    encoder: e.ENCODER,
    nvencSessionLimit: e.NVENC_SESSION_LIMIT,
    ops: Object.freeze({
      host: e.OPS_HOST,
      port: e.OPS_PORT,
      dashboardToken: e.OPS_DASHBOARD_TOKEN ?? null,
    }),
    lockDurationMs: e.LOCK_DURATION_MS,
    stalledIntervalMs: e.STALLED_INTERVAL_MS,
    maxStalledCount: e.MAX_STALLED_COUNT,
    encodeStallTimeoutMs: e.ENCODE_STALL_TIMEOUT_MS,
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    sourceLimits: Object.freeze({
      maxDurationSeconds: e.MAX_SOURCE_DURATION_SECONDS,
      maxWidth: e.MAX_SOURCE_WIDTH,
      maxHeight: e.MAX_SOURCE_HEIGHT,
      maxPixelRate: e.MAX_SOURCE_PIXEL_RATE,
      maxFps: e.MAX_SOURCE_FPS,
    }),
    ffmpegMemoryLimitBytes: e.FFMPEG_MEMORY_LIMIT_MB === 0 ? null : e.FFMPEG_MEMORY_LIMIT_MB * 1024 * 1024,
    ffmpegTimeLimit: Object.freeze({
      factor: e.FFMPEG_TIME_LIMIT_FACTOR,
      minimumMs: e.FFMPEG_MIN_TIME_LIMIT_MS,
    }),
    imports: Object.freeze({
      policy: Object.freeze({ allowed: allowedAddresses(e.IMPORT_ALLOWED_ADDRESSES) }),
      timeoutMs: e.IMPORT_TIMEOUT_MS,
    }),
  });
}
