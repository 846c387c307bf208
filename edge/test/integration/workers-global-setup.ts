import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { applyMigrations } from "../../../scripts/stack/migrate.ts";
import { startNeonBridge } from "../../../scripts/stack/neon-ws-bridge.ts";
import { freePort } from "../../../scripts/stack/proc.ts";
import { startPostgres } from "../../../scripts/stack/services.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** The Worker's variables for the "workers" project: a real Postgres, placeholders for the rest. */
    workersEnv: Record<string, string>;
  }
}

const stops: Array<() => Promise<void>> = [];
let dataDir = "";

/**
 * For the "workers" project (edge/test/workers, run inside workerd): a throwaway Postgres with the
 * migrations applied and the Neon WebSocket bridge in front of it, on free loopback ports, handed to the
 * Worker as bindings. TEST_DATABASE_URL uses an existing database instead of starting one.
 * Redis and storage are never reached by these tests, so they get unreachable placeholders.
 */
export async function setup(project: TestProject) {
  try {
    let databaseUrl = process.env.TEST_DATABASE_URL ?? "";
    if (!databaseUrl) {
      dataDir = mkdtempSync(path.join(os.tmpdir(), "streamlet-workers-"));
      chmodSync(dataDir, 0o755); // the postgres system user must reach its data folder
      const log = process.env.STACK_LOGS === "1" ? undefined : () => () => {};
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
      S3_ENDPOINT: "http://127.0.0.1:1",
      S3_PUBLIC_ENDPOINT: "",
      S3_BUCKET: "streamlet",
      S3_REGION: "us-east-1",
      S3_ACCESS_KEY_ID: "unused",
      S3_SECRET_ACCESS_KEY: "unused",
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
