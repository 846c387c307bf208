import { Hono } from "hono";
import { sign } from "hono/jwt";
import { describe, expect, it } from "vitest";
import { requireUser } from "../src/auth/require-user.ts";
import { signAccessToken } from "../src/auth/tokens.ts";
import type { AppEnv, UserVariables } from "../src/env.ts";
import { HttpError } from "../src/errors.ts";

const SECRET = "s".repeat(32);

function app() {
  const hono = new Hono<AppEnv & { Variables: UserVariables }>();
  hono.use("*", requireUser({ secret: () => SECRET }));
  hono.get("/me", (c) => c.json({ userId: c.var.userId }));
  hono.onError((error, c) =>
    error instanceof HttpError
      ? c.json({ code: error.code }, error.status, error.headers)
      : c.json({ code: "boom" }, 500),
  );
  return hono;
}

const get = (authorization?: string) =>
  app().request("/me", { headers: authorization === undefined ? {} : { authorization } });

describe("requireUser", () => {
  it("admits a valid access token and exposes the user id", async () => {
    const res = await get(`Bearer ${await signAccessToken("user-1", SECRET)}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ userId: "user-1" });
  });

  it("accepts the scheme case-insensitively", async () => {
    expect((await get(`bearer ${await signAccessToken("user-1", SECRET)}`)).status).toBe(200);
  });

  const now = Math.floor(Date.now() / 1000);
  it.each([
    ["no header", async () => undefined],
    ["empty header", async () => ""],
    ["wrong scheme", async () => `Basic ${await signAccessToken("user-1", SECRET)}`],
    ["garbage", async () => "Bearer garbage"],
    ["wrong secret", async () => `Bearer ${await signAccessToken("user-1", "x".repeat(32))}`],
    ["expired", async () => `Bearer ${await signAccessToken("user-1", SECRET, now - 3600)}`],
    ["no exp claim", async () => `Bearer ${await sign({ sub: "user-1", iat: now }, SECRET, "HS256")}`],
    ["no sub claim", async () => `Bearer ${await sign({ iat: now, exp: now + 60 }, SECRET, "HS256")}`],
    ["alg none", async () => `Bearer ${btoa('{"alg":"none"}')}.${btoa('{"sub":"u","exp":9999999999}')}.`],
    [
      "tampered payload",
      async () => {
        const [header, , signature] = (await signAccessToken("user-1", SECRET)).split(".");
        const payload = btoa(JSON.stringify({ sub: "admin", iat: now, exp: now + 60 })).replace(/=+$/, "");
        return `Bearer ${header}.${payload}.${signature}`;
      },
    ],
  ])("refuses %s with 401 unauthorized", async (_, header) => {
    const res = await get(await header());
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ code: "unauthorized" });
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer /);
  });
});
