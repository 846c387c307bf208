import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { applyMigrations } from "../../../scripts/stack/migrate.ts";
import { startNeonBridge } from "../../../scripts/stack/neon-ws-bridge.ts";
import { freePort } from "../../../scripts/stack/proc.ts";
import { S3_ACCESS_KEY, S3_SECRET_KEY, startPostgres, startS3 } from "../../../scripts/stack/services.ts";
import { startStorageProxy } from "../../../scripts/stack/storage-proxy.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /**
     * The Worker's variables for the "workers" project: a real Postgres, a real S3 server behind a
     * counting proxy (its `GET /__proxy/gets?key=` says how often an object was read), placeholders for
     * the rest.
     */
    workersEnv: Record<string, string>;
  }
}

const stops: Array<() => Promise<void>> = [];
let dataDir = "";

/**
 * For the "workers" project (edge/test/workers, run inside workerd): a throwaway Postgres with the
 * migrations applied and the Neon WebSocket bridge in front of it, on free loopback ports, handed to the
 * Worker as bindings. TEST_DATABASE_URL uses an existing database instead of starting one.
 * Storage: the local S3 server behind the counting proxy (scripts/stack/storage-proxy.ts), holding each
 * object GET STORAGE_LATENCY_MS like a remote bucket, so concurrent reads overlap (the origin shield's
 * tests). Redis is never reached by these tests: an unreachable placeholder.
 */
const STORAGE_LATENCY_MS = 150;
const BUCKET = "streamlet";

export async function setup(project: TestProject) {
  try {
    dataDir = mkdtempSync(path.join(os.tmpdir(), "streamlet-workers-"));
    chmodSync(dataDir, 0o755); // the postgres system user must reach its data folder
    const log = process.env.STACK_LOGS === "1" ? undefined : () => () => {};
    const s3 = await startS3({ dir: path.join(dataDir, "s3"), port: await freePort(), bucket: BUCKET, log });
    stops.push(s3.proc.stop);
    const proxy = await startStorageProxy(s3.endpoint, BUCKET, await freePort(), STORAGE_LATENCY_MS);
    stops.push(proxy.close);
    let databaseUrl = process.env.TEST_DATABASE_URL ?? "";
    if (!databaseUrl) {
      const pg = await startPostgres({
        dir: path.join(dataDir, "postgres"),
        port: await freePort(),
        fast: true,
        log,
      });
      stops.push(pg.proc.stop);
      databaseUrl = pg.url;
    }
    await applyMigrations(databaseUrl);
    const target = new URL(databaseUrl);
    const bridge = startNeonBridge({
      port: await freePort(),
      allowed: [`${target.hostname}:${target.port || 5432}`],
    });
    await bridge.ready;
    stops.push(bridge.stop);

    project.provide("workersEnv", {
      DATABASE_URL: databaseUrl,
      NEON_WS_PROXY: bridge.url,
      REDIS_URL: "redis://127.0.0.1:1",
      S3_ENDPOINT: proxy.url,
      S3_PUBLIC_ENDPOINT: "",
      S3_BUCKET: BUCKET,
      S3_REGION: "us-east-1",
      S3_ACCESS_KEY_ID: S3_ACCESS_KEY,
      S3_SECRET_ACCESS_KEY: S3_SECRET_KEY,
      JWT_SECRET: randomBytes(32).toString("base64url"),
      TRANSCODER_SECRET: randomBytes(32).toString("base64url"),
      PUBLIC_BASE_URL: "",
      // Low, so edge/test/workers/auth.test.ts trips each limit in a few requests (each of its tests sends
      // its own CF-Connecting-IP). Requests without that header all count as one client ("local"): other
      // files that call /v1/auth/* more often than this should send their own address too.
      RATE_LIMIT_SIGNUP: "10/1h",
      RATE_LIMIT_LOGIN: "10/15m",
      RATE_LIMIT_LOGIN_FAILURES: "3/15m",
      RATE_LIMIT_REFRESH: "10/15m",
      // Low, so edge/test/workers/captions-quota.test.ts spends it in a few uploads.
      RATE_LIMIT_CAPTIONS: "3/1h",
    });
  } catch (error) {
    await teardown();
    throw error;
  }
}

export async function teardown() {
  for (const stop of stops.reverse()) await stop().catch(() => {});
  stops.length = 0;
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}
