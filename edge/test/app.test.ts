import { describe, expect, it, vi } from "vitest";
import { createApp } from "../src/app.ts";
import { testEnv } from "./helpers.ts";

// Only paths that answer before any query: validation, auth, routing, config, OpenAPI.
const app = createApp();
const call = (path: string, init: RequestInit = {}, env: object = testEnv) => app.request(path, init, env);
const postJson = (path: string, body: string, headers: Record<string, string> = {}) =>
  call(path, { method: "POST", body, headers: { "content-type": "application/json", ...headers } });

async function expectEnvelope(res: Response, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(body.error.code).toBe(code);
  expect(body.error.message.length).toBeGreaterThan(0);
  return body;
}

describe("app", () => {
  it("answers /healthz without any configuration", async () => {
    const res = await call("/healthz", {}, {});
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
    expect(res.headers.get("x-request-id")).toBeTruthy();
  });

  it("serves an OpenAPI 3.1 document with every route and the bearer scheme", async () => {
    const res = await call("/openapi.json");
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {
      openapi: string;
      paths: Record<string, Record<string, { security?: unknown }>>;
      components: { securitySchemes: Record<string, { scheme: string }> };
    };
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths).sort()).toEqual([
      "/healthz",
      "/v1/auth/login",
      "/v1/auth/signup",
      "/v1/internal/videos/{id}/status",
      "/v1/play/{id}/{asset}",
      "/v1/videos",
      "/v1/videos/{id}",
      "/v1/videos/{id}/uploaded",
    ]);
    expect(Object.keys(doc.paths["/v1/videos"] ?? {}).sort()).toEqual(["get", "post"]);
    expect(doc.paths["/v1/videos"]?.post?.security).toEqual([{ bearerAuth: [] }]);
    expect(doc.components.securitySchemes.bearerAuth?.scheme).toBe("bearer");
  });

  it("answers unknown routes with a 404 envelope", async () => {
    await expectEnvelope(await call("/v1/nope"), 404, "not_found");
    await expectEnvelope(await call("/nope"), 404, "not_found");
  });

  it.each([
    ["malformed JSON", "{not json", "invalid_json"],
    ["an empty body", "", "invalid_json"],
    ["a JSON array", "[]", "invalid_request"],
    ["a missing field", '{"email":"a@example.com"}', "invalid_request"],
    ["a bad email", '{"email":"nope","password":"long enough password"}', "invalid_request"],
    [
      "an unknown field",
      '{"email":"a@example.com","password":"long enough password","admin":true}',
      "invalid_request",
    ],
  ])("answers 400 for %s, never 500", async (_, body, code) => {
    await expectEnvelope(await postJson("/v1/auth/signup", body), 400, code);
  });

  it("names the offending field in validation errors", async () => {
    const body = await expectEnvelope(
      await postJson("/v1/auth/signup", '{"email":"a@example.com","password":"short"}'),
      400,
      "invalid_request",
    );
    expect(body.error.message).toContain("password");
  });

  it("answers 415 for a non-JSON body and 400 for a missing one", async () => {
    const text = await call("/v1/auth/login", {
      method: "POST",
      body: "x",
      headers: { "content-type": "text/plain" },
    });
    await expectEnvelope(text, 415, "unsupported_media_type");
    await expectEnvelope(await call("/v1/auth/login", { method: "POST" }), 400, "invalid_request");
  });

  it("checks the token before the body on signed-in routes", async () => {
    await expectEnvelope(await postJson("/v1/videos", "{not json"), 401, "unauthorized");
  });

  it("checks the transcoder secret before the body, then validates the report", async () => {
    const path = "/v1/internal/videos/0b5e7d3c-8f5a-4b7e-9c1d-2e3f4a5b6c7d/status";
    await expectEnvelope(await postJson(path, '{"status":"bogus"}'), 401, "unauthorized");
    const auth = { authorization: `Bearer ${testEnv.TRANSCODER_SECRET}` };
    await expectEnvelope(await postJson(path, '{"status":"bogus"}', auth), 400, "invalid_request");
    await expectEnvelope(await postJson(path, "{", auth), 400, "invalid_json");
    await expectEnvelope(await postJson(path, '{"status":"ready"}', auth), 400, "invalid_request");
  });

  it.each([
    "/v1/play/not-a-uuid/master.m3u8",
    "/v1/play/0b5e7d3c-8f5a-4b7e-9c1d-2e3f4a5b6c7d/source.mov",
    "/v1/play/0b5e7d3c-8f5a-4b7e-9c1d-2e3f4a5b6c7d/a/b/c.m4s",
    "/v1/play/0b5e7d3c-8f5a-4b7e-9c1d-2e3f4a5b6c7d/..%2f..%2fsources%2fx",
    "/v1/play/0b5e7d3c-8f5a-4b7e-9c1d-2e3f4a5b6c7d/",
  ])("answers 404 for a path outside the delivery allow-list: %s", async (path) => {
    await expectEnvelope(await call(path), 404, "not_found");
  });

  it("adds CORS for players, allowing Range and exposing Content-Range", async () => {
    const preflight = await call("/v1/play/0b5e7d3c-8f5a-4b7e-9c1d-2e3f4a5b6c7d/master.m3u8", {
      method: "OPTIONS",
      headers: { origin: "https://player.example", "access-control-request-method": "GET" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("*");
    expect(preflight.headers.get("access-control-allow-headers")).toContain("Range");
    const denied = await call("/v1/play/nope/master.m3u8", { headers: { origin: "https://player.example" } });
    expect(denied.headers.get("access-control-allow-origin")).toBe("*");
    expect(denied.headers.get("access-control-expose-headers")).toContain("Content-Range");
  });

  it("adds CORS for API frontends, allowing Authorization", async () => {
    const preflight = await call("/v1/videos", {
      method: "OPTIONS",
      headers: { origin: "https://app.example", "access-control-request-method": "POST" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-headers")).toContain("Authorization");
  });

  it("fails with a logged 500 naming the missing variables (not their values) when config is bad", async () => {
    const log = vi.spyOn(console, "error").mockImplementation(() => {});
    const { JWT_SECRET: _, ...withoutJwt } = testEnv;
    const res = await call("/v1/videos", {}, { ...withoutJwt, TRANSCODER_SECRET: "short" });
    await expectEnvelope(res, 500, "internal");
    const line = String(log.mock.calls[0]?.[0]);
    expect(line).toContain("JWT_SECRET");
    expect(line).toContain("TRANSCODER_SECRET");
    expect(line).not.toContain("short");
    log.mockRestore();
  });
});
