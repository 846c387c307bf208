import { z } from "@hono/zod-openapi";
import { parseRateRule, type RateRule } from "./rate-limit/window.ts";

/** Empty strings from env files count as "not set", so optional values can be blanked out. */
const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value) => (value === "" ? undefined : value), schema.optional());

/**
 * Default rate limits (each overridable by its var, `off` disables one, RATE_LIMITS=off all of them).
 * Signup allows 30 an hour per address: the integration suite signs up about 25 users from 127.0.0.1
 * in one run (its stack can set RATE_LIMITS=off, after which this can go lower).
 */
export const DEFAULT_RATE_LIMITS = {
  /** RATE_LIMIT_SIGNUP: sign-up attempts per client address. */
  signup: { limit: 30, windowSeconds: 60 * 60 },
  /** RATE_LIMIT_LOGIN: login attempts per client address. */
  login: { limit: 20, windowSeconds: 15 * 60 },
  /** RATE_LIMIT_LOGIN_FAILURES: failed logins per account (email), cleared by a successful one. */
  loginFailures: { limit: 10, windowSeconds: 15 * 60 },
  /** RATE_LIMIT_REFRESH: refreshes per client address. */
  refresh: { limit: 60, windowSeconds: 15 * 60 },
  /** RATE_LIMIT_VIDEOS: videos created per user. */
  videos: { limit: 50, windowSeconds: 24 * 60 * 60 },
  /** RATE_LIMIT_COMMENTS: comments posted per user. */
  comments: { limit: 20, windowSeconds: 60 },
  /** RATE_LIMIT_REACTIONS: reactions set or cleared per user. */
  reactions: { limit: 60, windowSeconds: 60 },
  /** RATE_LIMIT_CAPTIONS: caption tracks uploaded, replaced or deleted per user (each one purges caches). */
  captions: { limit: 60, windowSeconds: 60 * 60 },
} as const satisfies Record<string, RateRule>;

/** PLAYBACK_STATE_TTL_SECONDS's default (play/state.ts). */
export const DEFAULT_PLAYBACK_STATE_TTL_SECONDS = 10;

/** Upload limits' defaults (each overridable by its var; sizes in bytes or with a unit: "50GB", "16MiB"). */
export const DEFAULT_UPLOAD_LIMITS = {
  /** MAX_SOURCE_BYTES: the largest source file a video may have. */
  maxSourceBytes: 50 * 1000 ** 3,
  /** MULTIPART_THRESHOLD_BYTES: files above this size are uploaded in parts, smaller ones in one PUT. */
  multipartThresholdBytes: 64 * 1024 ** 2,
  /** UPLOAD_PART_BYTES: the part size (raised for files that would need more than 10 000 parts). */
  partBytes: 16 * 1024 ** 2,
  /** STORAGE_QUOTA_BYTES: the source bytes one user may hold (declared uploads included); "off": no quota. */
  storageQuotaBytes: 200 * 1000 ** 3,
  /** UPLOAD_EXPIRY_SECONDS: a video whose source has not arrived this long after creation is removed. */
  uploadExpirySeconds: 24 * 60 * 60,
} as const;

const BYTE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
  tb: 1000 ** 4,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

/** A size var: bytes ("5242880") or with a unit ("5MiB", "50GB"), within [min, max]. */
const Bytes = (min: number, max: number, example: string) =>
  z.string().transform((text, ctx): number => {
    const bytes = parseBytes(text, min, max);
    if (bytes !== null) return bytes;
    ctx.addIssue({
      code: "custom",
      message: `must be a size from ${min} to ${max} bytes, e.g. "${example}"`,
    });
    return z.NEVER;
  });

/** A size var that may also be "off" (null). */
const BytesOrOff = (min: number, max: number, example: string) =>
  z.string().transform((text, ctx): number | null => {
    if (text.trim() === "off") return null;
    const bytes = parseBytes(text, min, max);
    if (bytes !== null) return bytes;
    ctx.addIssue({
      code: "custom",
      message: `must be "off" or a size from ${min} to ${max} bytes, e.g. "${example}"`,
    });
    return z.NEVER;
  });

function parseBytes(text: string, min: number, max: number): number | null {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?\s*$/i.exec(text);
  const bytes = match
    ? Math.round(Number(match[1]) * (BYTE_UNITS[(match[2] ?? "b").toLowerCase()] ?? 1))
    : NaN;
  return Number.isSafeInteger(bytes) && bytes >= min && bytes <= max ? bytes : null;
}

/** A rate limit var: "20/15m" (count/window with s, m, h or d) or "off". */
const RateRuleVar = z.string().transform((text, ctx): RateRule | null => {
  const parsed = parseRateRule(text);
  if ("rule" in parsed) return parsed.rule;
  ctx.addIssue({ code: "custom", message: parsed.error });
  return z.NEVER;
});

const Url = z.url({ message: "must be an absolute URL" });
const WithoutTrailingSlash = Url.transform((url) => url.replace(/\/+$/, ""));

const ConfigSchema = z
  .object({
    DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, { message: "must be a postgres:// URL" }),
    NEON_WS_PROXY: optional(z.string().min(1)),
    REDIS_URL: z.string().regex(/^rediss?:\/\//, { message: "must be a redis:// or rediss:// URL" }),
    S3_ENDPOINT: WithoutTrailingSlash,
    S3_PUBLIC_ENDPOINT: optional(WithoutTrailingSlash),
    S3_BUCKET: z.string().min(1),
    S3_REGION: optional(z.string().min(1)),
    S3_ACCESS_KEY_ID: z.string().min(1),
    S3_SECRET_ACCESS_KEY: z.string().min(1),
    JWT_SECRET: z.string().min(32, { message: "must be at least 32 characters" }),
    TRANSCODER_SECRET: z.string().min(16, { message: "must be at least 16 characters" }),
    PUBLIC_BASE_URL: optional(WithoutTrailingSlash),
    // Engagement (likes, views, comments) in MongoDB instead of Postgres when set.
    MONGODB_URL: optional(
      z.string().regex(/^mongodb(\+srv)?:\/\//, { message: "must be a mongodb:// or mongodb+srv:// URL" }),
    ),
    MONGODB_DB: optional(
      z.string().regex(/^[^/\\. "$]{1,63}$/, { message: "must be a MongoDB database name" }),
    ),
    // Global cache purge through Cloudflare's API (caches.default is per data centre): both or neither.
    CLOUDFLARE_ZONE_ID: optional(z.string().regex(/^[0-9a-f]{32}$/, { message: "must be a 32-hex zone id" })),
    CLOUDFLARE_PURGE_TOKEN: optional(z.string().min(20, { message: "must be an API token" })),
    CLOUDFLARE_API_BASE: optional(WithoutTrailingSlash),
    // Whether CF-Connecting-IP names the client: true on Cloudflare (which sets it on every request) or
    // behind a proxy that overwrites it with the peer's address; false anywhere a client could send it.
    TRUST_CF_CONNECTING_IP: optional(z.enum(["true", "false"], { message: 'must be "true" or "false"' })),
    // How long a data centre keeps a ready video's playback state (visibility, cache generation): the
    // longest a visibility change or a delete takes to reach a data centre no purge reached.
    PLAYBACK_STATE_TTL_SECONDS: optional(
      z.coerce
        .number({ message: "must be a whole number of seconds from 1 to 300" })
        .int({ message: "must be a whole number of seconds from 1 to 300" })
        .min(1, { message: "must be a whole number of seconds from 1 to 300" })
        .max(300, { message: "must be a whole number of seconds from 1 to 300" }),
    ),
    // S3's largest object is 5 TiB; it takes one PUT up to 5 GiB and parts from 5 MiB (but the last) up to
    // 5 GiB, of which we allow under 2 GiB (the part size is an integer column; 5 TiB needs 550 MB parts).
    MAX_SOURCE_BYTES: optional(Bytes(1, 5 * 1024 ** 4, "50GB")),
    MULTIPART_THRESHOLD_BYTES: optional(Bytes(0, 5 * 1024 ** 3, "64MiB")),
    UPLOAD_PART_BYTES: optional(Bytes(5 * 1024 ** 2, 2 * 1024 ** 3 - 1, "16MiB")),
    STORAGE_QUOTA_BYTES: optional(BytesOrOff(0, Number.MAX_SAFE_INTEGER, "200GB")),
    UPLOAD_EXPIRY_SECONDS: optional(
      z.coerce
        .number({ message: "must be a whole number of seconds, at least 1" })
        .int({ message: "must be a whole number of seconds, at least 1" })
        .min(1, { message: "must be a whole number of seconds, at least 1" }),
    ),
    // Concurrent cache misses of one asset share one read per isolate (play/single-flight.ts), and that
    // read goes through the data centre's origin shield (play/origin-shield.ts). "isolate", "shield" (each
    // level alone) and "off" only to measure the difference (bench/delivery).
    ORIGIN_COALESCING: optional(
      z.enum(["on", "isolate", "shield", "off"], { message: 'must be "on", "isolate", "shield" or "off"' }),
    ),
    RATE_LIMITS: optional(z.enum(["on", "off"], { message: 'must be "on" or "off"' })),
    RATE_LIMIT_SIGNUP: optional(RateRuleVar),
    RATE_LIMIT_LOGIN: optional(RateRuleVar),
    RATE_LIMIT_LOGIN_FAILURES: optional(RateRuleVar),
    RATE_LIMIT_REFRESH: optional(RateRuleVar),
    RATE_LIMIT_VIDEOS: optional(RateRuleVar),
    RATE_LIMIT_COMMENTS: optional(RateRuleVar),
    RATE_LIMIT_REACTIONS: optional(RateRuleVar),
    RATE_LIMIT_CAPTIONS: optional(RateRuleVar),
  })
  .refine((env) => !env.CLOUDFLARE_ZONE_ID === !env.CLOUDFLARE_PURGE_TOKEN, {
    message: "set both CLOUDFLARE_ZONE_ID and CLOUDFLARE_PURGE_TOKEN, or neither",
    path: ["CLOUDFLARE_PURGE_TOKEN"],
  })
  .transform((env) => ({
    databaseUrl: env.DATABASE_URL,
    neonWsProxy: env.NEON_WS_PROXY ?? null,
    redisUrl: env.REDIS_URL,
    s3: {
      endpoint: env.S3_ENDPOINT,
      publicEndpoint: env.S3_PUBLIC_ENDPOINT ?? env.S3_ENDPOINT,
      bucket: env.S3_BUCKET,
      region: env.S3_REGION ?? "us-east-1",
      accessKeyId: env.S3_ACCESS_KEY_ID,
      secretAccessKey: env.S3_SECRET_ACCESS_KEY,
    },
    jwtSecret: env.JWT_SECRET,
    transcoderSecret: env.TRANSCODER_SECRET,
    publicBaseUrl: env.PUBLIC_BASE_URL ?? null,
    /** The engagement store in MongoDB, or null for Postgres (the default). */
    mongodb: env.MONGODB_URL ? { url: env.MONGODB_URL, db: env.MONGODB_DB ?? "streamlet" } : null,
    /** Zone-wide purge of a video's cached assets in every data centre; null: this data centre only. */
    cachePurge:
      env.CLOUDFLARE_ZONE_ID && env.CLOUDFLARE_PURGE_TOKEN
        ? {
            zoneId: env.CLOUDFLARE_ZONE_ID,
            token: env.CLOUDFLARE_PURGE_TOKEN,
            apiBase: env.CLOUDFLARE_API_BASE ?? "https://api.cloudflare.com/client/v4",
          }
        : null,
    /**
     * Per-address limits and anonymous views key on CF-Connecting-IP only when this is true; otherwise
     * the Worker cannot know the peer (workerd exposes none) and every client counts as one ("local").
     */
    trustCfConnectingIp: env.TRUST_CF_CONNECTING_IP === "true",
    playbackStateTtlSeconds: env.PLAYBACK_STATE_TTL_SECONDS ?? DEFAULT_PLAYBACK_STATE_TTL_SECONDS,
    /**
     * Where concurrent misses of one asset are shared: within the isolate (play/single-flight.ts) and in
     * the data centre's origin shield (play/origin-shield.ts); both by default.
     */
    originCoalescing: {
      isolate: ["on", "isolate", undefined].includes(env.ORIGIN_COALESCING),
      shield: ["on", "shield", undefined].includes(env.ORIGIN_COALESCING),
    },
    /** Each limit, or null where it is off. */
    rateLimits: rateLimits(env),
    uploads: {
      maxSourceBytes: env.MAX_SOURCE_BYTES ?? DEFAULT_UPLOAD_LIMITS.maxSourceBytes,
      multipartThresholdBytes: env.MULTIPART_THRESHOLD_BYTES ?? DEFAULT_UPLOAD_LIMITS.multipartThresholdBytes,
      partBytes: env.UPLOAD_PART_BYTES ?? DEFAULT_UPLOAD_LIMITS.partBytes,
      /** Null: no quota. */
      storageQuotaBytes:
        env.STORAGE_QUOTA_BYTES === undefined
          ? DEFAULT_UPLOAD_LIMITS.storageQuotaBytes
          : env.STORAGE_QUOTA_BYTES,
      expirySeconds: env.UPLOAD_EXPIRY_SECONDS ?? DEFAULT_UPLOAD_LIMITS.uploadExpirySeconds,
    },
  }));

function rateLimits(env: {
  RATE_LIMITS?: "on" | "off" | undefined;
  RATE_LIMIT_SIGNUP?: RateRule | null | undefined;
  RATE_LIMIT_LOGIN?: RateRule | null | undefined;
  RATE_LIMIT_LOGIN_FAILURES?: RateRule | null | undefined;
  RATE_LIMIT_REFRESH?: RateRule | null | undefined;
  RATE_LIMIT_VIDEOS?: RateRule | null | undefined;
  RATE_LIMIT_COMMENTS?: RateRule | null | undefined;
  RATE_LIMIT_REACTIONS?: RateRule | null | undefined;
  RATE_LIMIT_CAPTIONS?: RateRule | null | undefined;
}): Record<keyof typeof DEFAULT_RATE_LIMITS, RateRule | null> {
  const off = env.RATE_LIMITS === "off";
  const pick = (value: RateRule | null | undefined, fallback: RateRule) =>
    off ? null : value === undefined ? fallback : value;
  return {
    signup: pick(env.RATE_LIMIT_SIGNUP, DEFAULT_RATE_LIMITS.signup),
    login: pick(env.RATE_LIMIT_LOGIN, DEFAULT_RATE_LIMITS.login),
    loginFailures: pick(env.RATE_LIMIT_LOGIN_FAILURES, DEFAULT_RATE_LIMITS.loginFailures),
    refresh: pick(env.RATE_LIMIT_REFRESH, DEFAULT_RATE_LIMITS.refresh),
    videos: pick(env.RATE_LIMIT_VIDEOS, DEFAULT_RATE_LIMITS.videos),
    comments: pick(env.RATE_LIMIT_COMMENTS, DEFAULT_RATE_LIMITS.comments),
    reactions: pick(env.RATE_LIMIT_REACTIONS, DEFAULT_RATE_LIMITS.reactions),
    captions: pick(env.RATE_LIMIT_CAPTIONS, DEFAULT_RATE_LIMITS.captions),
  };
}

export type Config = Readonly<z.infer<typeof ConfigSchema>>;

/** Thrown when the Worker's vars/secrets are missing or malformed; names the keys, never the values. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

let cached: { source: object; config: Config } | undefined;

/**
 * Parses the Worker's env once per isolate (the runtime hands the same env object to every request),
 * so a missing secret fails every request loudly instead of half-working.
 */
export function loadConfig(env: object): Config {
  if (cached?.source === env) return cached.config;
  const parsed = ConfigSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((issue) => {
        const missing = issue.code === "invalid_type" && issue.message.endsWith("received undefined");
        return `${issue.path.join(".") || "(env)"}: ${missing ? "is not set" : issue.message}`;
      })
      .join("; ");
    throw new ConfigError(`invalid Worker configuration: ${problems}`);
  }
  const config = Object.freeze(parsed.data);
  cached = { source: env, config };
  return config;
}
