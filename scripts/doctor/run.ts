/** Runs every check that applies to this configuration, at once (each bounded by its own timeout). */
import { checkCachePurge } from "./cache-purge.ts";
import { checkConfig, checkSecrets } from "./config.ts";
import { checkEdge } from "./edge.ts";
import { detectRoles, frontendOrigins, type Role } from "./env.ts";
import { checkMongo } from "./mongodb.ts";
import { checkPostgres } from "./postgres.ts";
import { checkRedis } from "./redis.ts";
import type { Report } from "./report.ts";
import { checkStorage } from "./storage.ts";

export async function runDoctor(
  env: Record<string, string | undefined>,
  opts: { roles?: Role[]; timeoutMs?: number } = {},
): Promise<Report[]> {
  const roles = opts.roles ?? detectRoles(env);
  const timeoutMs = opts.timeoutMs ?? 5000;
  const reports: Array<Report | Promise<Report>> = roles.map((role) => checkConfig(role, env));
  reports.push(checkSecrets(env));
  reports.push(checkRedis(env.REDIS_URL, { timeoutMs }));
  if (env.S3_ENDPOINT && env.S3_BUCKET && env.S3_ACCESS_KEY_ID && env.S3_SECRET_ACCESS_KEY)
    reports.push(
      checkStorage(
        {
          endpoint: env.S3_ENDPOINT,
          publicEndpoint: env.S3_PUBLIC_ENDPOINT || undefined,
          bucket: env.S3_BUCKET,
          region: env.S3_REGION || "us-east-1",
          accessKeyId: env.S3_ACCESS_KEY_ID,
          secretAccessKey: env.S3_SECRET_ACCESS_KEY,
        },
        { origins: frontendOrigins(env), timeoutMs },
      ),
    );
  if (roles.includes("edge")) {
    if (env.DATABASE_URL) reports.push(checkPostgres(env.DATABASE_URL, { timeoutMs }));
    reports.push(checkMongo(env.MONGODB_URL || undefined, env.MONGODB_DB || "streamlet", { timeoutMs }));
    reports.push(checkCachePurge(env, { timeoutMs }));
  }
  if (roles.includes("transcoder") || env.PUBLIC_BASE_URL)
    reports.push(
      checkEdge(roles.includes("transcoder") ? env.EDGE_URL : undefined, {
        timeoutMs,
        publicBaseUrl: env.PUBLIC_BASE_URL,
      }),
    );
  const settled = await Promise.all(reports);
  return settled.filter((r) => r.ok.length > 0 || r.problems.length > 0);
}
