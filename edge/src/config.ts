import { z } from "@hono/zod-openapi";

/** Empty strings from env files count as "not set", so optional values can be blanked out. */
const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value) => (value === "" ? undefined : value), schema.optional());

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
  }));

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
