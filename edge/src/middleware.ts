import type { Context, MiddlewareHandler } from "hono";
import { loadConfig } from "./config.ts";
import { createDb } from "./db/client.ts";
import type { AppEnv } from "./env.ts";

/** Parses the env into `c.var.config` (once per isolate); a bad env throws ConfigError → logged 500. */
export function withConfig(): MiddlewareHandler<AppEnv> {
  return async function withConfig(c, next) {
    c.set("config", loadConfig(c.env));
    await next();
  };
}

/**
 * Gives the request its own Postgres pool as `c.var.db` and ends it after the response via waitUntil
 * (Workers cannot reuse sockets across requests). No connection opens unless a query runs.
 */
export function withDb(): MiddlewareHandler<AppEnv> {
  return async function withDb(c, next) {
    const { db, end } = createDb(c.var.config);
    c.set("db", db);
    try {
      await next();
    } finally {
      waitUntil(
        c,
        end().catch((error: unknown) => console.error("postgres pool end failed:", error)),
      );
    }
  };
}

/** executionCtx.waitUntil where there is one (the Worker), await-free no-op tracking elsewhere (tests). */
export function waitUntil(c: Context, promise: Promise<unknown>) {
  try {
    c.executionCtx.waitUntil(promise);
  } catch {
    // app.request() in unit tests has no ExecutionContext; the promise still runs.
  }
}
