import { BEARER_PROTOCOL_PREFIX, EVENTS_PROTOCOL } from "@streamlet/shared";
import { describe, expect, it, vi } from "vitest";
import { createApp } from "../src/app.ts";
import { signAccessToken, signProgressToken } from "../src/auth/tokens.ts";
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
      "/v1/auth/logout",
      "/v1/auth/logout-all",
      "/v1/auth/refresh",
      "/v1/auth/signup",
      "/v1/channels",
      "/v1/channels/{handle}",
      "/v1/channels/{handle}/subscription",
      "/v1/channels/{handle}/videos",
      "/v1/comments/{id}",
      "/v1/comments/{id}/replies",
      "/v1/download/{id}/{token}/{fileName}",
      "/v1/internal/videos/{id}/progress",
      "/v1/me",
      "/v1/me/feed",
      "/v1/me/subscriptions",
      "/v1/me/videos",
      "/v1/play/{id}/{asset}",
      "/v1/videos",
      "/v1/videos/{id}",
      "/v1/videos/{id}/captions",
      "/v1/videos/{id}/captions/{language}",
      "/v1/videos/{id}/comments",
      "/v1/videos/{id}/download",
      "/v1/videos/{id}/events",
      "/v1/videos/{id}/reaction",
      "/v1/videos/{id}/retry",
      "/v1/videos/{id}/upload",
      "/v1/videos/{id}/upload/parts",
      "/v1/videos/{id}/uploaded",
      "/v1/videos/{id}/views",
    ]);
    expect(Object.keys(doc.paths["/v1/videos/{id}"] ?? {}).sort()).toEqual(["delete", "get", "patch"]);
    for (const path of ["/v1/me", "/v1/me/feed", "/v1/me/videos"]) {
      expect(doc.paths[path]?.get?.security).toEqual([{ bearerAuth: [] }]);
    }
    for (const path of ["/v1/internal/videos/{id}/progress", "/v1/videos/{id}/events"]) {
      expect(Object.keys(doc.paths[path] ?? {})).toEqual(["get"]);
      const get = doc.paths[path]?.get as { responses?: object } | undefined;
      expect(Object.keys(get?.responses ?? {})).toContain("101");
    }
    expect(doc.paths["/v1/internal/videos/{id}/progress"]?.get?.security).toEqual([
      { transcoderSecret: [], progressToken: [] },
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

  describe("progress sockets, refused before any database or Durable Object is touched", () => {
    const id = "0b5e7d3c-8f5a-4b7e-9c1d-2e3f4a5b6c7d";
    const other = "1c6f8e4d-9a6b-4c8f-8d2e-3f4a5b6c7d8e";
    const upgrade = { upgrade: "websocket" };
    const transcoder = { ...upgrade, authorization: `Bearer ${testEnv.TRANSCODER_SECRET}` };
    const publisher = (headers: Record<string, string>) =>
      call(`/v1/internal/videos/${id}/progress`, { headers });
    const subscriber = (headers: Record<string, string>, query = "") =>
      call(`/v1/videos/${id}/events${query}`, { headers });

    it("answers 426 upgrade_required to requests that are not WebSocket upgrades", async () => {
      const user = await signAccessToken("user-1", testEnv.JWT_SECRET);
      const token = await signProgressToken(id, testEnv.JWT_SECRET);
      const res = await publisher({ authorization: transcoder.authorization, "x-progress-token": token });
      await expectEnvelope(res, 426, "upgrade_required");
      expect(res.headers.get("upgrade")).toBe("websocket");
      await expectEnvelope(await subscriber({ authorization: `Bearer ${user}` }), 426, "upgrade_required");
    });

    it("refuses a publisher without the transcoder secret, or with a user's token for it", async () => {
      const token = await signProgressToken(id, testEnv.JWT_SECRET);
      const user = await signAccessToken("user-1", testEnv.JWT_SECRET);
      for (const authorization of [undefined, "Bearer wrong-secret-wrong-secret", `Bearer ${user}`]) {
        const headers = {
          ...upgrade,
          "x-progress-token": token,
          ...(authorization ? { authorization } : {}),
        };
        await expectEnvelope(await publisher(headers), 401, "unauthorized");
      }
    });

    it("refuses a missing, forged, expired or user progress token with 401, another video's with 403", async () => {
      const secret = testEnv.JWT_SECRET;
      const expired = await signProgressToken(id, secret, Math.floor(Date.now() / 1000) - 8 * 86_400);
      const forged = await signProgressToken(id, "f".repeat(32));
      const user = await signAccessToken(id, secret);
      await expectEnvelope(await publisher(transcoder), 401, "unauthorized");
      for (const token of ["garbage", expired, forged, user]) {
        await expectEnvelope(
          await publisher({ ...transcoder, "x-progress-token": token }),
          401,
          "unauthorized",
        );
      }
      const elsewhere = await signProgressToken(other, secret);
      await expectEnvelope(
        await publisher({ ...transcoder, "x-progress-token": elsewhere }),
        403,
        "forbidden",
      );
    });

    it("refuses a subscriber without a valid access token, a progress token included", async () => {
      const secret = testEnv.JWT_SECRET;
      const progress = await signProgressToken(id, secret);
      const expired = await signAccessToken("user-1", secret, Math.floor(Date.now() / 1000) - 3600);
      await expectEnvelope(await subscriber(upgrade), 401, "unauthorized");
      await expectEnvelope(
        await subscriber({ ...upgrade, authorization: `Bearer ${progress}` }),
        401,
        "unauthorized",
      );
      for (const token of ["garbage", progress, expired]) {
        const protocols = `${EVENTS_PROTOCOL}, ${BEARER_PROTOCOL_PREFIX}${token}`;
        const res = await subscriber({ ...upgrade, "sec-websocket-protocol": protocols });
        const body = await expectEnvelope(res, 401, "unauthorized");
        expect(JSON.stringify(body)).not.toContain(token);
      }
    });

    it("answers 400 when subprotocols are offered without ours, and for a malformed since", async () => {
      const user = await signAccessToken("user-1", testEnv.JWT_SECRET);
      const offered = { ...upgrade, "sec-websocket-protocol": `${BEARER_PROTOCOL_PREFIX}${user}` };
      const res = await subscriber(offered);
      const body = await expectEnvelope(res, 400, "unsupported_protocol");
      expect(JSON.stringify(body)).not.toContain(user);
      const authorized = { ...upgrade, authorization: `Bearer ${user}` };
      await expectEnvelope(await subscriber(authorized, "?since=-1"), 400, "invalid_request");
      await expectEnvelope(await subscriber(authorized, "?since=abc"), 400, "invalid_request");
    });

    it("answers 404 for a malformed video id once the caller is authenticated", async () => {
      const user = await signAccessToken("user-1", testEnv.JWT_SECRET);
      const res = await call("/v1/videos/not-a-uuid/events", {
        headers: { ...upgrade, authorization: `Bearer ${user}` },
      });
      await expectEnvelope(res, 404, "not_found");
    });
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
