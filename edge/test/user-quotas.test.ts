import { OpenAPIHono } from "@hono/zod-openapi";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.ts";
import type { AppEnv } from "../src/env.ts";
import { HttpError } from "../src/errors.ts";
import type { Limiter } from "../src/rate-limit/middleware.ts";
import { type Quota, spendQuota } from "../src/rate-limit/user-quotas.ts";
import { slide } from "../src/rate-limit/window.ts";
import { testEnv } from "./helpers.ts";

/** Counters in memory with the real sliding window, at a fixed time. */
function fakeLimiter() {
  const logs = new Map<string, number[]>();
  const limiter: Limiter = {
    async consume(counter, rule) {
      const { hits, ...decision } = slide(logs.get(counter) ?? [], 1_000_000, rule);
      logs.set(counter, [...hits]);
      return decision;
    },
    async reset(counter) {
      logs.delete(counter);
    },
  };
  return { limiter, logs };
}

function app(env: object, limiter: Limiter) {
  const hono = new OpenAPIHono<AppEnv>();
  hono.use("*", async (c, next) => {
    c.set("config", loadConfig(env));
    await next();
  });
  hono.post("/:quota/:user", async (c) => {
    await spendQuota(c, c.req.param("quota") as Quota, c.req.param("user"), () => limiter);
    return c.text("ok");
  });
  hono.onError((error, c) =>
    error instanceof HttpError
      ? c.json({ error: { code: error.code, message: error.message } }, error.status, error.headers)
      : c.text(String(error), 500),
  );
  return hono;
}

describe("spendQuota", () => {
  it("lets a user spend their quota, then answers 429 with Retry-After; other users and quotas are apart", async () => {
    const { limiter, logs } = fakeLimiter();
    const hono = app({ ...testEnv, RATE_LIMIT_COMMENTS: "3/1m" }, limiter);
    for (let i = 0; i < 3; i++)
      expect((await hono.request("/comments/u1", { method: "POST" })).status).toBe(200);
    const refused = await hono.request("/comments/u1", { method: "POST" });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    const body = (await refused.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("rate_limited");
    expect(body.error.message).toMatch(/^you have posted too many comments; try again in \d+ seconds$/);
    expect((await hono.request("/comments/u2", { method: "POST" })).status).toBe(200);
    expect((await hono.request("/reactions/u1", { method: "POST" })).status).toBe(200);
    expect([...logs.keys()].sort()).toEqual([
      "quota-comments:user:u1",
      "quota-comments:user:u2",
      "quota-reactions:user:u1",
    ]);
  });

  it("applies the defaults (50 videos a day, 20 comments and 60 reactions a minute) and can be turned off", async () => {
    const { limiter } = fakeLimiter();
    const hono = app(testEnv, limiter);
    for (const [quota, limit] of [
      ["videos", 50],
      ["comments", 20],
      ["reactions", 60],
    ] as const) {
      for (let i = 0; i < limit; i++)
        expect((await hono.request(`/${quota}/u`, { method: "POST" })).status).toBe(200);
      expect((await hono.request(`/${quota}/u`, { method: "POST" })).status).toBe(429);
    }
    const off = app({ ...testEnv, RATE_LIMIT_VIDEOS: "off" }, fakeLimiter().limiter);
    for (let i = 0; i < 60; i++)
      expect((await off.request("/videos/u", { method: "POST" })).status).toBe(200);
  });
});
