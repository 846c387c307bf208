import { Hono } from "hono";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createApp } from "../src/app.ts";
import { signAccessToken } from "../src/auth/tokens.ts";
import { limitBody, noSniff } from "../src/middleware.ts";
import { testEnv } from "./helpers.ts";

const MiB = 1024 * 1024;

afterEach(() => {
  vi.restoreAllMocks();
});

describe("limitBody", () => {
  const limited = (maxBytes?: number) => {
    const app = new Hono();
    const seen = vi.fn();
    app.use("*", maxBytes === undefined ? limitBody() : limitBody({ maxBytes }));
    app.post("/", async (c) => {
      seen(await c.req.text());
      return c.text("ok");
    });
    return { app, seen };
  };

  it("answers 413 payload_too_large for a declared length over the limit without reading the body", async () => {
    const { app, seen } = limited(10);
    const res = await app.request("/", { method: "POST", body: "x".repeat(11) });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: { code: "payload_too_large" } });
    expect(seen).not.toHaveBeenCalled();
  });

  it("counts a streamed body of unknown length and lets one within the limit through", async () => {
    const { app } = limited();
    const chunk = new Uint8Array(MiB);
    const stream = new ReadableStream({
      pull(controller) {
        controller.enqueue(chunk);
      },
    });
    const res = await app.request("/", { method: "POST", body: stream, duplex: "half" } as RequestInit);
    expect(res.status).toBe(413);
    const ok = await app.request("/", { method: "POST", body: "x".repeat(64 * 1024) });
    expect(ok.status).toBe(200);
  });
});

describe("noSniff", () => {
  it("marks plain, error and thrown responses", async () => {
    const app = new Hono();
    app.use("*", noSniff());
    app.get("/ok", (c) => c.text("ok"));
    app.get("/boom", () => {
      throw new Error("boom");
    });
    app.get("/frozen", () => Response.redirect("https://example.com/", 302));
    app.onError((_, c) => c.json({ error: { code: "internal", message: "x" } }, 500));
    for (const path of ["/ok", "/boom", "/frozen", "/missing"]) {
      const res = await app.request(path);
      expect(res.headers.get("x-content-type-options"), path).toBe("nosniff");
    }
  });
});

describe("the app's hardening", () => {
  const app = createApp();

  it("refuses a 20 MiB JSON body with 413 before validating or authenticating it", async () => {
    const token = await signAccessToken("0b5e7d3c-8f5a-4b7e-9c1d-2e3f4a5b6c7d", testEnv.JWT_SECRET);
    const body = JSON.stringify({ title: "t", description: "x".repeat(20 * MiB) });
    for (const authorization of [`Bearer ${token}`, ""]) {
      const res = await app.request(
        "/v1/videos",
        { method: "POST", body, headers: { "content-type": "application/json", authorization } },
        testEnv,
      );
      expect(res.status).toBe(413);
      const json = (await res.json()) as { error: { code: string; message: string } };
      expect(json.error.code).toBe("payload_too_large");
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    }
  });

  it("sends nosniff on successes, 404s, validation errors and configuration failures", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const cases: [string, RequestInit, object][] = [
      ["/healthz", {}, testEnv],
      ["/v1/nope", {}, testEnv],
      [
        "/v1/auth/signup",
        { method: "POST", body: "{}", headers: { "content-type": "application/json" } },
        testEnv,
      ],
      ["/v1/videos", {}, {}],
      ["/v1/play/not-an-id/master.m3u8", {}, testEnv],
    ];
    for (const [path, init, env] of cases) {
      const res = await app.request(path, init, env);
      expect(res.headers.get("x-content-type-options"), path).toBe("nosniff");
    }
  });
});
