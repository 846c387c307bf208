/** A complete, valid Worker env for tests that never reach Postgres, Redis or storage. */
export const testEnv = {
  DATABASE_URL: "postgres://user:pass@127.0.0.1:1/none",
  NEON_WS_PROXY: "127.0.0.1:1/v1",
  REDIS_URL: "redis://127.0.0.1:1",
  S3_ENDPOINT: "http://127.0.0.1:1",
  S3_BUCKET: "streamlet",
  S3_REGION: "us-east-1",
  S3_ACCESS_KEY_ID: "S3RVER",
  S3_SECRET_ACCESS_KEY: "S3RVER",
  JWT_SECRET: "j".repeat(32),
  TRANSCODER_SECRET: "t".repeat(24),
} as const;
