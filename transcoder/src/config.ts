import os from "node:os";
import { z } from "zod";

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

const ACK_TIMEOUT_MESSAGE =
  "PROGRESS_ACK_TIMEOUT_MS must be a whole number of milliseconds from 1000 to 600000";

const httpUrl = (name: string) =>
  z
    .url({ protocol: /^https?$/, message: `${name} must be an http(s) URL` })
    .transform((u) => u.replace(/\/+$/, ""));

const EnvSchema = z.object({
  REDIS_URL: z.url({ protocol: /^rediss?$/, message: "REDIS_URL must be a redis:// or rediss:// URL" }),
  S3_ENDPOINT: httpUrl("S3_ENDPOINT"),
  S3_BUCKET: z.string().min(1),
  S3_REGION: z.string().min(1).default("us-east-1"),
  S3_ACCESS_KEY_ID: z.string().min(1),
  S3_SECRET_ACCESS_KEY: z.string().min(1),
  EDGE_URL: httpUrl("EDGE_URL"),
  TRANSCODER_SECRET: z.string().min(16, { message: "TRANSCODER_SECRET must be at least 16 characters" }),
  TRANSCODER_CONCURRENCY: z.coerce
    .number({ message: "TRANSCODER_CONCURRENCY must be a whole number from 1 to 32" })
    .int({ message: "TRANSCODER_CONCURRENCY must be a whole number from 1 to 32" })
    .min(1, { message: "TRANSCODER_CONCURRENCY must be a whole number from 1 to 32" })
    .max(32, { message: "TRANSCODER_CONCURRENCY must be a whole number from 1 to 32" })
    .default(1),
  PROGRESS_ACK_TIMEOUT_MS: z.coerce
    .number({ message: ACK_TIMEOUT_MESSAGE })
    .int({ message: ACK_TIMEOUT_MESSAGE })
    .min(1000, { message: ACK_TIMEOUT_MESSAGE })
    .max(600_000, { message: ACK_TIMEOUT_MESSAGE })
    .default(60_000),
  X264_PRESET: z.enum(X264_PRESETS).default("veryfast"),
  WORK_DIR: z.string().min(1).default(os.tmpdir()),
  FFMPEG_PATH: z.string().min(1).default("ffmpeg"),
  FFPROBE_PATH: z.string().min(1).default("ffprobe"),
  ENCODER: z
    .enum(["auto", "x264"], { message: 'ENCODER must be "auto" or "x264" (NVENC is not supported yet)' })
    .default("auto"),
});

export type X264Preset = (typeof X264_PRESETS)[number];

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
  readonly x264Preset: X264Preset;
  readonly workDir: string;
  readonly ffmpegPath: string;
  readonly ffprobePath: string;
  /** Resolved encoder: "auto" maps to x264 until the NVENC path exists. */
  readonly encoder: "x264";
}

/** Thrown at start-up so a misconfigured worker dies with every problem listed at once. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Parses the environment once so a bad deployment fails at start-up, not in the middle of a job. */
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
    x264Preset: e.X264_PRESET,
    workDir: e.WORK_DIR,
    ffmpegPath: e.FFMPEG_PATH,
    ffprobePath: e.FFPROBE_PATH,
    encoder: "x264",
  });
}
