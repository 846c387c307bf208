import { Hono } from "hono";
import { sign } from "hono/jwt";
import { describe, expect, it } from "vitest";
import {
  PROGRESS_AUDIENCE,
  signAccessToken,
  signProgressToken,
  verifyAccessToken,
  verifyProgressToken,
} from "../src/auth/tokens.ts";
import type { AppEnv } from "../src/env.ts";
import { HttpError } from "../src/errors.ts";
import { requireProgressToken } from "../src/progress/require-progress-token.ts";

const SECRET = "s".repeat(32);
const VIDEO = "0b5e7d3c-8f5a-4b7e-9c1d-2e3f4a5b6c7d";
const now = Math.floor(Date.now() / 1000);

function app() {
  const hono = new Hono<AppEnv>();
  hono.use("/videos/:id/progress", requireProgressToken({ secret: () => SECRET }));
  hono.get("/videos/:id/progress", (c) => c.json({ ok: true }));
  hono.onError((error, c) =>
    error instanceof HttpError ? c.json({ code: error.code }, error.status) : c.json({ code: "boom" }, 500),
  );
  return hono;
}

const get = (token?: string, video = VIDEO) =>
  app().request(`/videos/${video}/progress`, {
    headers: token === undefined ? {} : { "x-progress-token": token },
  });

describe("progress tokens", () => {
  it("carry the video, the progress audience, the publish scope and a 7-day expiry", async () => {
    const token = await signProgressToken(VIDEO, SECRET, now);
    const payload = JSON.parse(atob((token.split(".")[1] ?? "").replace(/-/g, "+").replace(/_/g, "/")));
    expect(payload).toEqual({
      sub: VIDEO,
      aud: PROGRESS_AUDIENCE,
      scope: "publish",
      iat: now,
      exp: now + 604_800,
    });
    expect(await verifyProgressToken(token, SECRET)).toBe(VIDEO);
  });

  it("are never taken for access tokens, nor access tokens for them", async () => {
    expect(await verifyAccessToken(await signProgressToken(VIDEO, SECRET), SECRET)).toBeNull();
    expect(await verifyProgressToken(await signAccessToken(VIDEO, SECRET), SECRET)).toBeNull();
    // Any audience or scope makes a token something other than an access token.
    const scoped = await sign({ sub: "u", exp: now + 60, scope: "publish" }, SECRET, "HS256");
    expect(await verifyAccessToken(scoped, SECRET)).toBeNull();
  });
});

describe("requireProgressToken", () => {
  it("admits the token minted for the video in the path", async () => {
    expect((await get(await signProgressToken(VIDEO, SECRET))).status).toBe(200);
  });

  it.each([
    ["no header", async () => undefined],
    ["an empty header", async () => ""],
    ["garbage", async () => "garbage"],
    ["a forged signature", async () => signProgressToken(VIDEO, "f".repeat(32))],
    ["an expired token", async () => signProgressToken(VIDEO, SECRET, now - 8 * 86_400)],
    ["a user's access token", async () => signAccessToken(VIDEO, SECRET)],
    [
      "a wrong audience",
      async () => sign({ sub: VIDEO, aud: "other", scope: "publish", exp: now + 60 }, SECRET, "HS256"),
    ],
    [
      "a wrong scope",
      async () => sign({ sub: VIDEO, aud: PROGRESS_AUDIENCE, scope: "read", exp: now + 60 }, SECRET, "HS256"),
    ],
    [
      "no expiry",
      async () => sign({ sub: VIDEO, aud: PROGRESS_AUDIENCE, scope: "publish" }, SECRET, "HS256"),
    ],
  ])("refuses %s with 401", async (_, token) => {
    const res = await get(await token());
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ code: "unauthorized" });
  });

  it("refuses a token for another video with 403", async () => {
    const res = await get(await signProgressToken("1c6f8e4d-9a6b-4c8f-8d2e-3f4a5b6c7d8e", SECRET));
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ code: "forbidden" });
  });
});
