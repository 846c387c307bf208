import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { loadConfig } from "./config.ts";
import { createDb } from "./db/client.ts";
import type { AppEnv } from "./env.ts";
import { envelope } from "./errors.ts";

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

/**
 * Sends `X-Content-Type-Options: nosniff` on every response (errors and delivery included), so a browser
 * never runs an uploaded or error body as something other than its declared type. A response with
 * immutable headers (one passed through from a Durable Object) is copied; WebSocket upgrades are left alone.
 */
export function noSniff(): MiddlewareHandler {
  return async function noSniff(c, next) {
    await next();
    if (c.res.status === 101) return;
    try {
      c.res.headers.set("X-Content-Type-Options", "nosniff");
    } catch {
      const copy = new Response(c.res.body, c.res);
      copy.headers.set("X-Content-Type-Options", "nosniff");
      c.res = copy;
    }
  };
}

/** The largest request body the API reads: a video with a 5000-character description fits many times over. */
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;

/**
 * Refuses a request body over `maxBytes` with 413 payload_too_large before anything reads or parses it
 * (hono/body-limit checks Content-Length and counts a streamed body as it arrives).
 */
export function limitBody({
  maxBytes = DEFAULT_MAX_BODY_BYTES,
}: {
  maxBytes?: number;
} = {}): MiddlewareHandler {
  const limit = bodyLimit({
    maxSize: maxBytes,
    onError: (c) =>
      c.json(envelope("payload_too_large", `the request body must be at most ${maxBytes} bytes`), 413),
  });
  return async function limitBody(c, next) {
    return limit(c, next);
  };
}
