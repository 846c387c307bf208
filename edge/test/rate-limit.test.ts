import { Hono } from "hono";
import { describe, expect, it, vi } from "vitest";
import type { Config } from "../src/config.ts";
import type { AppEnv } from "../src/env.ts";
import { envelope, HttpError } from "../src/errors.ts";
import { type Limiter, type RateLimitOptions, rateLimit } from "../src/rate-limit/middleware.ts";
import { type RateRule, slide } from "../src/rate-limit/window.ts";

/**
 * Counters in memory, on a clock the test moves. A stand-in on purpose: these unit tests check the
 * middleware's decisions over time windows without waiting in real time; the real RateLimiter Durable
 * Object is exercised through the Worker in edge/test/workers/auth.test.ts.
 */
function fakeLimiter() {
  const logs = new Map<string, number[]>();
  const clock = { now: 1_000_000 };
  const limiter: Limiter = {
    consume: async (counter: string, rule: RateRule) => {
      const { hits, ...decision } = slide(logs.get(counter) ?? [], clock.now, rule);
      logs.set(counter, hits);
      return decision;
    },
    reset: async (counter: string) => {
      logs.delete(counter);
    },
  };
  return { limiter, logs, clock };
}

function app(options: Partial<RateLimitOptions>, limiter: Limiter | null) {
  const hono = new Hono<AppEnv>();
  // As on Cloudflare: CF-Connecting-IP is the client's address (edge/test/workers/auth.test.ts covers
  // an edge that does not trust it).
  hono.use(async (c, next) => {
    c.set("config", { trustCfConnectingIp: true } as Config);
    await next();
  });
  hono.post(
    "/attempt",
    rateLimit({
      name: "test",
      rule: () => ({ limit: 2, windowSeconds: 60 }),
      limiter: () => limiter,
      ...options,
    }),
    async (c) => {
      const body = (await c.req.json().catch(() => ({}))) as { ok?: boolean };
      if (body.ok === false) throw new HttpError(401, "invalid_credentials", "nope");
      return c.json({ ok: true });
    },
  );
  hono.onError((error, c) =>
    error instanceof HttpError
      ? c.json(envelope(error.code, error.message), error.status, error.headers)
      : c.json(envelope("internal", "boom"), 500),
  );
  return hono;
}

const attempt = (hono: Hono<AppEnv>, headers: Record<string, string> = {}, body: unknown = {}) =>
  hono.request("/attempt", {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });

describe("rateLimit", () => {
  it("answers 429 rate_limited with Retry-After and the envelope once a client is over the limit", async () => {
    const { limiter, clock } = fakeLimiter();
    const hono = app({ message: "too many tries" }, limiter);
    const ip = { "cf-connecting-ip": "203.0.113.7" };
    expect((await attempt(hono, ip)).status).toBe(200);
    clock.now += 20_000;
    expect((await attempt(hono, ip)).status).toBe(200);
    const refused = await attempt(hono, ip);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("40");
    expect(await refused.json()).toEqual({
      error: { code: "rate_limited", message: "too many tries; try again in 40 seconds" },
    });
    clock.now += 40_000;
    expect((await attempt(hono, ip)).status).toBe(200);
  });

  it("counts each client address (and each limit name) separately; no address shares the local key", async () => {
    const { limiter, logs } = fakeLimiter();
    const hono = app({}, limiter);
    for (let i = 0; i < 2; i++) await attempt(hono, { "cf-connecting-ip": "203.0.113.7" });
    expect((await attempt(hono, { "cf-connecting-ip": "203.0.113.7" })).status).toBe(429);
    expect((await attempt(hono, { "cf-connecting-ip": "203.0.113.8" })).status).toBe(200);
    expect((await attempt(hono)).status).toBe(200);
    expect([...logs.keys()].sort()).toEqual(["test:ip:203.0.113.7", "test:ip:203.0.113.8", "test:local"]);
  });

  it("with resetWhen, clears the counter after a success so only failures add up", async () => {
    const { limiter } = fakeLimiter();
    const hono = app({ key: () => "email:a@example.com", resetWhen: (res) => res.ok }, limiter);
    expect((await attempt(hono, {}, { ok: false })).status).toBe(401);
    expect((await attempt(hono, {}, { ok: true })).status).toBe(200);
    expect((await attempt(hono, {}, { ok: false })).status).toBe(401);
    expect((await attempt(hono, {}, { ok: false })).status).toBe(401);
    // Two failures since the success: locked, even with the right password.
    expect((await attempt(hono, {}, { ok: true })).status).toBe(429);
  });

  it("with keepWhenOver, still runs a request over the limit and keeps the response it accepts", async () => {
    const { limiter } = fakeLimiter();
    const hono = app(
      { key: () => "email:a@example.com", keepWhenOver: (res) => res.ok, resetWhen: (res) => res.ok },
      limiter,
    );
    for (let i = 0; i < 2; i++) expect((await attempt(hono, {}, { ok: false })).status).toBe(401);
    // Over the limit: a failure is a 429, the right password still gets in and clears the count.
    const refused = await attempt(hono, {}, { ok: false });
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBeTruthy();
    expect((await attempt(hono, {}, { ok: true })).status).toBe(200);
    expect((await attempt(hono, {}, { ok: false })).status).toBe(401);
  });

  it("lets requests through uncounted when the rule is off, the key is null or there is no limiter", async () => {
    const { limiter, logs } = fakeLimiter();
    for (const hono of [
      app({ rule: () => null }, limiter),
      app({ key: () => null }, limiter),
      app({}, null),
    ]) {
      for (let i = 0; i < 5; i++) expect((await attempt(hono)).status).toBe(200);
    }
    expect(logs.size).toBe(0);
  });

  it("fails open, logged, when the limiter is unreachable", async () => {
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    const broken: Limiter = {
      consume: () => Promise.reject(new Error("overloaded")),
      reset: () => Promise.reject(new Error("overloaded")),
    };
    const hono = app({ resetWhen: (res) => res.ok }, broken);
    for (let i = 0; i < 3; i++) expect((await attempt(hono)).status).toBe(200);
    expect(error).toHaveBeenCalledWith(
      'rate limit "test" unavailable, request let through:',
      expect.any(Error),
    );
    error.mockRestore();
  });
});
