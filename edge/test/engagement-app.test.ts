import { describe, expect, it } from "vitest";
import { createApp } from "../src/app.ts";
import { signAccessToken } from "../src/auth/tokens.ts";
import { ConfigError, loadConfig } from "../src/config.ts";
import { testEnv } from "./helpers.ts";

// Only answers given before any query: authentication, validation, malformed ids, routing, config.
const app = createApp();
const id = "0b5e7d3c-8f5a-4b7e-9c1d-2e3f4a5b6c7d";
const call = (path: string, init: RequestInit = {}) => app.request(path, init, testEnv);
const token = () => signAccessToken("user-1", testEnv.JWT_SECRET);

async function expectEnvelope(res: Response, status: number, code: string) {
  expect(res.status).toBe(status);
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(body.error.code).toBe(code);
  expect(body.error.message.length).toBeGreaterThan(0);
}

describe("engagement routes before the database", () => {
  it("require a signed-in user to react, comment and delete", async () => {
    const json = { "content-type": "application/json" };
    await expectEnvelope(
      await call(`/v1/videos/${id}/reaction`, { method: "PUT", headers: json, body: '{"value":"like"}' }),
      401,
      "unauthorized",
    );
    await expectEnvelope(await call(`/v1/videos/${id}/reaction`, { method: "DELETE" }), 401, "unauthorized");
    await expectEnvelope(
      await call(`/v1/videos/${id}/comments`, { method: "POST", headers: json, body: '{"body":"hi"}' }),
      401,
      "unauthorized",
    );
    await expectEnvelope(await call(`/v1/comments/${id}`, { method: "DELETE" }), 401, "unauthorized");
  });

  it("refuse a present but invalid token even where anonymous callers are welcome", async () => {
    const bad = { authorization: "Bearer nope" };
    await expectEnvelope(
      await call(`/v1/videos/${id}/views`, { method: "POST", headers: bad }),
      401,
      "unauthorized",
    );
    await expectEnvelope(await call(`/v1/videos/${id}/comments`, { headers: bad }), 401, "unauthorized");
    await expectEnvelope(await call(`/v1/comments/${id}/replies`, { headers: bad }), 401, "unauthorized");
  });

  it("validate bodies and queries with the envelope", async () => {
    const headers = { authorization: `Bearer ${await token()}`, "content-type": "application/json" };
    for (const body of ['{"value":"love"}', "{}", "[]"]) {
      await expectEnvelope(
        await call(`/v1/videos/${id}/reaction`, { method: "PUT", headers, body }),
        400,
        "invalid_request",
      );
    }
    await expectEnvelope(
      await call(`/v1/videos/${id}/reaction`, { method: "PUT", headers, body: "{nope" }),
      400,
      "invalid_json",
    );
    for (const body of ['{"body":"  "}', `{"body":"${"x".repeat(2001)}"}`, '{"body":"ok","x":1}']) {
      await expectEnvelope(
        await call(`/v1/videos/${id}/comments`, { method: "POST", headers, body }),
        400,
        "invalid_request",
      );
    }
    await expectEnvelope(await call(`/v1/videos/${id}/comments?limit=0`), 400, "invalid_request");
    await expectEnvelope(await call(`/v1/comments/${id}/replies?limit=500`), 400, "invalid_request");
  });

  it("answer 404 for malformed ids without asking the database", async () => {
    const headers = { authorization: `Bearer ${await token()}` };
    await expectEnvelope(await call("/v1/videos/nope/views", { method: "POST" }), 404, "not_found");
    await expectEnvelope(await call("/v1/videos/nope/comments"), 404, "not_found");
    await expectEnvelope(await call("/v1/comments/nope", { method: "DELETE", headers }), 404, "not_found");
    await expectEnvelope(await call("/v1/comments/nope/replies"), 404, "not_found");
  });
});

describe("MongoDB configuration", () => {
  it("uses Postgres unless MONGODB_URL is set, and defaults the database name", () => {
    expect(loadConfig({ ...testEnv }).mongodb).toBeNull();
    expect(loadConfig({ ...testEnv, MONGODB_URL: "", MONGODB_DB: "" }).mongodb).toBeNull();
    expect(loadConfig({ ...testEnv, MONGODB_URL: "mongodb://db:27017" }).mongodb).toEqual({
      url: "mongodb://db:27017",
      db: "streamlet",
    });
    expect(
      loadConfig({ ...testEnv, MONGODB_URL: "mongodb+srv://u:p@cluster.example.net", MONGODB_DB: "eng" })
        .mongodb,
    ).toEqual({ url: "mongodb+srv://u:p@cluster.example.net", db: "eng" });
  });

  it("refuses a URL that is not mongodb:// and a bad database name, naming the variable", () => {
    expect(() => loadConfig({ ...testEnv, MONGODB_URL: "postgres://x" })).toThrow(/MONGODB_URL/);
    expect(() => loadConfig({ ...testEnv, MONGODB_URL: "mongodb://x", MONGODB_DB: "a.b" })).toThrow(
      ConfigError,
    );
  });
});
