import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { signAccessToken } from "../src/auth/tokens.ts";
import type { AppEnv } from "../src/env.ts";
import { HttpError } from "../src/errors.ts";
import { requireTranscoder } from "../src/progress/require-transcoder.ts";

const SECRET = "transcoder-secret-0123456789";

function app() {
  const hono = new Hono<AppEnv>();
  hono.use("*", requireTranscoder({ secret: () => SECRET }));
  hono.post("/report", (c) => c.json({ ok: true }));
  hono.onError((error, c) =>
    error instanceof HttpError ? c.json({ code: error.code }, error.status) : c.json({ code: "boom" }, 500),
  );
  return hono;
}

const post = (authorization?: string) =>
  app().request("/report", { method: "POST", headers: authorization === undefined ? {} : { authorization } });

describe("requireTranscoder", () => {
  it("admits the shared secret", async () => {
    expect((await post(`Bearer ${SECRET}`)).status).toBe(200);
  });

  it.each([
    ["no header", undefined],
    ["wrong secret", "Bearer wrong-secret-wrong-secret"],
    ["a prefix of the secret", `Bearer ${SECRET.slice(0, -1)}`],
    ["the secret plus a suffix", `Bearer ${SECRET}x`],
    ["the bare secret without scheme", SECRET],
  ])("refuses %s with 401", async (_, header) => {
    const res = await post(header);
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ code: "unauthorized" });
  });

  it("refuses a user's access token, even one signed with the transcoder secret", async () => {
    expect((await post(`Bearer ${await signAccessToken("user-1", SECRET)}`)).status).toBe(401);
  });
});
