import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import type { AppEnv } from "../src/env.ts";
import { HttpError } from "../src/errors.ts";
import { requireWebSocket } from "../src/progress/require-web-socket.ts";

function app() {
  const hono = new Hono<AppEnv>();
  hono.use("*", requireWebSocket({ protocol: "streamlet.progress.v1" }));
  hono.get("/socket", (c) => c.json({ ok: true }));
  hono.onError((error, c) =>
    error instanceof HttpError
      ? c.json({ code: error.code }, error.status, error.headers)
      : c.json({ code: "boom" }, 500),
  );
  return hono;
}

const get = (headers: Record<string, string>) => app().request("/socket", { headers });

describe("requireWebSocket", () => {
  it.each([
    ["no protocol offered", { upgrade: "websocket" }],
    ["any case", { upgrade: "WebSocket" }],
    [
      "ours among others",
      { upgrade: "websocket", "sec-websocket-protocol": "streamlet.progress.v1, bearer.x" },
    ],
  ])("admits an upgrade with %s", async (_, headers) => {
    expect((await get(headers)).status).toBe(200);
  });

  it.each([
    ["no Upgrade header", {}],
    ["another upgrade", { upgrade: "h2c" }],
  ])("answers 426 upgrade_required with %s", async (_, headers) => {
    const res = await get(headers);
    expect(res.status).toBe(426);
    expect(await res.json()).toEqual({ code: "upgrade_required" });
    expect(res.headers.get("upgrade")).toBe("websocket");
  });

  it("answers 400 when subprotocols are offered but not ours", async () => {
    const res = await get({ upgrade: "websocket", "sec-websocket-protocol": "bearer.secret-token, chat" });
    expect(res.status).toBe(400);
    expect(await res.text()).not.toContain("secret-token");
  });
});
