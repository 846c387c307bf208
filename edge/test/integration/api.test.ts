import { randomBytes } from "node:crypto";
import {
  BEARER_PROTOCOL_PREFIX,
  EVENTS_PROTOCOL,
  TRANSCODE_QUEUE,
  Video,
  VideoList,
} from "@streamlet/shared";
import { Queue } from "bullmq";
import IORedis from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type WebSocket from "ws";
import { type CallOptions, call, edge, expectError, nextMessage, upgrade, vars } from "./helpers.ts";

/** call() with the JSON body untyped: this file reads many shapes of it. */
async function req(method: string, path: string, opts: CallOptions = {}) {
  const res = await call(method, path, opts);
  return { ...res, json: res.json as ReturnType<typeof JSON.parse> };
}

const email = () => `user-${randomBytes(6).toString("hex")}@example.com`;
const password = "correct horse battery staple";

async function signup() {
  const res = await req("POST", "/v1/auth/signup", { body: { email: email(), password } });
  expect(res.status).toBe(201);
  return res.json as { accessToken: string; refreshToken: string; user: { id: string; email: string } };
}

async function put(url: string, body: Uint8Array<ArrayBuffer>, headers: Record<string, string> = {}) {
  const res = await fetch(url, { method: "PUT", body, headers });
  expect(res.ok).toBe(true);
}

let redis: IORedis;
let queue: Queue;
beforeAll(() => {
  redis = new IORedis(vars.REDIS_URL ?? "", { maxRetriesPerRequest: null });
  queue = new Queue(TRANSCODE_QUEUE, { connection: redis });
});
afterAll(async () => {
  await queue.close();
  redis.disconnect();
});

describe("the stack's Redis (password required, as compose and production have it)", () => {
  it("refuses a client without the password; the edge and transcoders use the URL that carries it", async () => {
    const url = new URL(vars.REDIS_URL ?? "");
    expect(url.password).not.toBe("");
    const anonymous = new IORedis({
      host: url.hostname,
      port: Number(url.port),
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      enableReadyCheck: false, // the ready check's INFO would fail first and close the connection
    });
    try {
      await anonymous.connect();
      await expect(anonymous.ping()).rejects.toThrow(/NOAUTH/);
    } finally {
      anonymous.disconnect();
    }
    expect(await redis.ping()).toBe("PONG");
  });
});

describe("health and OpenAPI", () => {
  it("answers /healthz", async () => {
    const res = await req("GET", "/healthz");
    expect(res.status).toBe(200);
  });

  it("serves an OpenAPI document covering the public routes", async () => {
    const res = await req("GET", "/openapi.json");
    expect(res.status).toBe(200);
    const paths = Object.keys(res.json.paths);
    for (const p of [
      "/v1/auth/signup",
      "/v1/auth/login",
      "/v1/videos",
      "/v1/videos/{id}",
      "/v1/videos/{id}/uploaded",
      "/v1/videos/{id}/events",
      "/v1/internal/videos/{id}/progress",
    ]) {
      expect(paths).toContain(p);
    }
  });

  it("answers unknown routes with the error envelope", async () => {
    expectError(await req("GET", "/v1/nope"), 404);
  });
});

describe("auth", () => {
  it("signs up and logs in with a JWT access token and a refresh token", async () => {
    const address = email();
    const created = await req("POST", "/v1/auth/signup", {
      body: { email: address.toUpperCase(), password },
    });
    expect(created.status).toBe(201);
    expect(created.json.user.email).toBe(address);
    expect(created.json.accessToken.split(".")).toHaveLength(3);
    expect(created.json.refreshToken.length).toBeGreaterThan(20);

    const login = await req("POST", "/v1/auth/login", { body: { email: address, password } });
    expect(login.status).toBe(200);
    expect(login.json.user.id).toBe(created.json.user.id);
  });

  it("refuses a duplicate email, a wrong password and an unknown account alike", async () => {
    const address = email();
    await req("POST", "/v1/auth/signup", { body: { email: address, password } });
    expectError(
      await req("POST", "/v1/auth/signup", { body: { email: address, password } }),
      409,
      "email_taken",
    );
    const wrong = await req("POST", "/v1/auth/login", {
      body: { email: address, password: "not the password" },
    });
    const unknown = await req("POST", "/v1/auth/login", { body: { email: email(), password } });
    expectError(wrong, 401, "invalid_credentials");
    expectError(unknown, 401, "invalid_credentials");
    expect(wrong.json.error.message).toBe(unknown.json.error.message);
  });

  it.each([
    ["malformed JSON", { raw: "{not json" }],
    ["an empty body", { raw: "" }],
    ["a JSON array", { body: [] }],
    ["a bad email", { body: { email: "nope", password } }],
    ["a short password", { body: { email: email(), password: "short" } }],
    ["an unknown field", { body: { email: email(), password, admin: true } }],
  ])("answers 400 with the envelope for %s", async (_, opts) => {
    expectError(await req("POST", "/v1/auth/signup", opts), 400);
  });

  // These send their own client address (wrangler dev keeps a CF-Connecting-IP the client sent), so
  // they do not spend 127.0.0.1's sign-up allowance that the rest of the suite relies on.
  const fromOwnAddress = () => {
    const ip = `198.51.100.${1 + Math.floor(Math.random() * 254)}`;
    return async (path: string, body?: unknown, token?: string) => {
      const headers: Record<string, string> = { "content-type": "application/json", "cf-connecting-ip": ip };
      if (token) headers.authorization = `Bearer ${token}`;
      const res = await fetch(`${edge}/v1/auth${path}`, {
        method: "POST",
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : null };
    };
  };

  it("rotates refresh tokens, and a replayed one revokes the whole sign-in", async () => {
    const post = fromOwnAddress();
    const created = await post("/signup", { email: email(), password });
    expect(created.status).toBe(201);
    const rotated = await post("/refresh", { refreshToken: created.json.refreshToken });
    expect(rotated.status).toBe(200);
    expect(rotated.json.refreshToken).not.toBe(created.json.refreshToken);
    expect(rotated.json.user).toEqual(created.json.user);
    // The new access token works.
    const video = await req("POST", "/v1/videos", {
      body: { title: "after refresh", upload: { size: 1024 } },
      token: rotated.json.accessToken,
    });
    expect(video.status).toBe(201);

    expectError(await post("/refresh", { refreshToken: created.json.refreshToken }), 401, "token_reused");
    expectError(await post("/refresh", { refreshToken: rotated.json.refreshToken }), 401, "token_reused");
    expectError(await post("/refresh", { refreshToken: "never-issued" }), 401, "invalid_token");
    expectError(await post("/refresh", {}), 400, "invalid_request");
  });

  it("logs out one sign-in (204, idempotent, same answer for unknown tokens) or all of them", async () => {
    const post = fromOwnAddress();
    const address = email();
    const first = await post("/signup", { email: address, password });
    const second = await post("/login", { email: address, password });
    const third = await post("/login", { email: address, password });
    expect([first.status, second.status, third.status]).toEqual([201, 200, 200]);

    expect((await post("/logout", { refreshToken: first.json.refreshToken })).status).toBe(204);
    expect((await post("/logout", { refreshToken: first.json.refreshToken })).status).toBe(204);
    expect((await post("/logout", { refreshToken: "never-issued" })).status).toBe(204);
    expectError(await post("/refresh", { refreshToken: first.json.refreshToken }), 401, "token_reused");
    const still = await post("/refresh", { refreshToken: second.json.refreshToken });
    expect(still.status).toBe(200);

    expectError(await post("/logout-all"), 401, "unauthorized");
    expect((await post("/logout-all", undefined, third.json.accessToken)).status).toBe(204);
    for (const refreshToken of [still.json.refreshToken, third.json.refreshToken]) {
      expectError(await post("/refresh", { refreshToken }), 401, "token_reused");
    }
  });

  it("refuses weak passwords with 400 weak_password saying why", async () => {
    const post = fromOwnAddress();
    const address = email();
    const cases: Array<[string, RegExp]> = [
      [address, /email address/],
      [address.split("@")[0] ?? "", /before the @/],
      ["qwertyuiop123", /most commonly used/],
    ];
    for (const [weak, why] of cases) {
      const res = await post("/signup", { email: address, password: weak });
      expectError(res, 400, "weak_password");
      expect(res.json.error.message).toMatch(why);
    }
  });

  it.skipIf(vars.RATE_LIMITS === "off")(
    "locks an account after 10 failed logins with 429 rate_limited and Retry-After (default limit)",
    async () => {
      const post = fromOwnAddress();
      const ghost = email();
      for (let i = 0; i < 10; i++) {
        expectError(await post("/login", { email: ghost, password }), 401, "invalid_credentials");
      }
      const locked = await post("/login", { email: ghost, password });
      expectError(locked, 429, "rate_limited");
      const retryAfter = Number(locked.headers.get("retry-after"));
      expect(retryAfter).toBeGreaterThan(800);
      expect(retryAfter).toBeLessThanOrEqual(900);
    },
  );

  it("refuses missing, garbage and tampered bearer tokens", async () => {
    const { accessToken } = await signup();
    const tampered = `${accessToken.slice(0, -4)}AAAA`;
    for (const token of [undefined, "garbage", tampered]) {
      expectError(
        await req("POST", "/v1/videos", { body: { title: "x", upload: { size: 1024 } }, token }),
        401,
        "unauthorized",
      );
    }
  });
});

describe("videos and uploads", () => {
  it("creates a video with a presigned PUT, and refuses bad bodies", async () => {
    const { accessToken } = await signup();
    const res = await req("POST", "/v1/videos", {
      body: { title: "Hello", description: "d", upload: { size: 1024 } },
      token: accessToken,
    });
    expect(res.status).toBe(201);
    const video = Video.parse(res.json.video);
    expect(video.status).toBe("awaiting_upload");
    expect(video.playback.hls).toBeNull();
    expect(res.json.upload.method).toBe("PUT");
    expect(res.json.upload.url).toContain("X-Amz-Signature=");
    expect(Date.parse(res.json.upload.expiresAt)).toBeGreaterThan(Date.now());

    for (const body of [
      {},
      { title: "" },
      { title: 5, upload: { size: 1 } },
      { title: "x".repeat(201), upload: { size: 1 } },
      { title: "neither upload nor source" },
      { title: "x", upload: { size: 0 } },
      { title: "x", upload: { size: 1.5 } },
      { title: "x", upload: { size: 1 }, source: { url: "https://example.com/a.mp4" } },
      { title: "x", source: { url: "ftp://example.com/a.mp4" } },
      { title: "x", source: { url: "file:///etc/passwd" } },
    ]) {
      expectError(await req("POST", "/v1/videos", { body, token: accessToken }), 400);
    }
  });

  it("refuses /uploaded before the file exists and for a non-owner; the PUT takes only the declared size", async () => {
    const owner = await signup();
    const other = await signup();
    const created = await req("POST", "/v1/videos", {
      body: { title: "missing", upload: { size: 1024 } },
      token: owner.accessToken,
    });
    const id = created.json.video.id as string;
    expect(created.json.upload).toMatchObject({ kind: "single", size: 1024 });

    expectError(
      await req("POST", `/v1/videos/${id}/uploaded`, { token: owner.accessToken }),
      409,
      "upload_missing",
    );
    // The URL is signed for 1024 bytes: storage refuses any other size (the signature covers Content-Length).
    for (const size of [0, 1023, 1025]) {
      const res = await fetch(created.json.upload.url, { method: "PUT", body: new Uint8Array(size) });
      await res.body?.cancel();
      expect(res.status, `a PUT of ${size} bytes`).toBe(403);
    }
    expectError(
      await req("POST", `/v1/videos/${id}/uploaded`, { token: owner.accessToken }),
      409,
      "upload_missing",
    );
    expectError(
      await req("POST", `/v1/videos/${id}/uploaded`, { token: other.accessToken }),
      404,
      "not_found",
    );
    expectError(await req("POST", `/v1/videos/${id}/uploaded`), 401);
    expectError(await req("POST", "/v1/videos/not-a-uuid/uploaded", { token: owner.accessToken }), 404);
    expect((await req("GET", `/v1/videos/${id}`)).json.status).toBe("awaiting_upload");
    expect(await queue.getJob(id)).toBeUndefined();
  });

  it("enqueues exactly one job however often /uploaded is called", async () => {
    const owner = await signup();
    const created = await req("POST", "/v1/videos", {
      body: { title: "twice", upload: { size: 1024 } },
      token: owner.accessToken,
    });
    const id = created.json.video.id as string;
    // Not a video: the transcoder will fail it, which is fine here; we only count enqueues.
    await put(created.json.upload.url, new Uint8Array(randomBytes(1024)), created.json.upload.headers);
    const first = await req("POST", `/v1/videos/${id}/uploaded`, { token: owner.accessToken });
    expect(first.status).toBe(202);
    const second = await req("POST", `/v1/videos/${id}/uploaded`, { token: owner.accessToken });
    expect([202, 409]).toContain(second.status);
    const job = await queue.getJob(id);
    expect(job?.data).toMatchObject({
      videoId: id,
      ownerId: owner.user.id,
      input: { key: `sources/${id}` },
      output: { prefix: `videos/${id}/` },
    });
    const all = await queue.getJobs(["waiting", "active", "completed", "failed", "delayed"]);
    expect(all.filter((j) => j.data.videoId === id)).toHaveLength(1);
  });

  it("answers 404 with the envelope for unknown videos and for playback of videos that are not ready", async () => {
    const owner = await signup();
    const created = await req("POST", "/v1/videos", {
      body: { title: "not ready", upload: { size: 1024 } },
      token: owner.accessToken,
    });
    const id = created.json.video.id as string;
    expectError(await req("GET", "/v1/videos/00000000-0000-4000-8000-000000000000"), 404, "not_found");
    expectError(await req("GET", `/v1/play/${id}/master.m3u8`), 404);
    expectError(await req("GET", `/v1/play/${id}/../sources/${id}`), 404);
  });

  it("lists only ready videos, newest first, with a cursor, and rejects a garbage cursor", async () => {
    const res = await req("GET", "/v1/videos?limit=2");
    expect(res.status).toBe(200);
    const list = VideoList.parse(res.json);
    for (const v of list.videos) expect(v.status).toBe("ready");
    expectError(await req("GET", "/v1/videos?cursor=%%%garbage"), 400, "invalid_cursor");
    expectError(await req("GET", "/v1/videos?limit=1000"), 400);
  });
});

describe("live progress sockets", () => {
  it("mints a progress token for the job: this video only, publish scope, 7 days", async () => {
    const owner = await signup();
    const created = await req("POST", "/v1/videos", {
      body: { title: "token", upload: { size: 1024 } },
      token: owner.accessToken,
    });
    const id = created.json.video.id as string;
    await put(created.json.upload.url, new Uint8Array(randomBytes(1024)), created.json.upload.headers);
    expect((await req("POST", `/v1/videos/${id}/uploaded`, { token: owner.accessToken })).status).toBe(202);
    const job = await queue.getJob(id);
    const token = String(job?.data.progressToken);
    const claims = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8"));
    expect(claims).toMatchObject({ sub: id, aud: "streamlet:progress", scope: "publish" });
    expect(claims.exp - claims.iat).toBe(7 * 24 * 3600);
    // It is not an access token.
    expectError(
      await req("POST", "/v1/videos", { body: { title: "x", upload: { size: 1024 } }, token }),
      401,
      "unauthorized",
    );
  });

  it("refuses the publisher route without an upgrade, the secret, or a valid token for this video", async () => {
    const owner = await signup();
    const created = await req("POST", "/v1/videos", {
      body: { title: "x", upload: { size: 1024 } },
      token: owner.accessToken,
    });
    const id = created.json.video.id as string;
    const path = `/v1/internal/videos/${id}/progress`;
    const secret = { authorization: `Bearer ${vars.TRANSCODER_SECRET}` };
    expectError(await req("GET", path, { token: vars.TRANSCODER_SECRET }), 426, "upgrade_required");
    expectError(
      await req("POST", `/v1/internal/videos/${id}/status`, { body: { status: "processing" } }),
      404,
    );

    expect(await upgrade(path)).toMatchObject({ status: 401, code: "unauthorized" });
    for (const authorization of ["Bearer wrong-secret-wrong-secret", `Bearer ${owner.accessToken}`]) {
      expect(await upgrade(path, { headers: { authorization } })).toMatchObject({ status: 401 });
    }
    expect(await upgrade(path, { headers: secret })).toMatchObject({ status: 401, code: "unauthorized" });
    const asProgress = { ...secret, "x-progress-token": owner.accessToken };
    expect(await upgrade(path, { headers: asProgress })).toMatchObject({ status: 401, code: "unauthorized" });
  });

  it("lets the owner subscribe with the bearer subprotocol and selects only the events protocol", async () => {
    const owner = await signup();
    const other = await signup();
    const created = await req("POST", "/v1/videos", {
      body: { title: "live", upload: { size: 1024 } },
      token: owner.accessToken,
    });
    const id = created.json.video.id as string;
    const path = `/v1/videos/${id}/events`;
    const offer = (token: string) => [EVENTS_PROTOCOL, `${BEARER_PROTOCOL_PREFIX}${token}`];

    const opened = await upgrade(path, { protocols: offer(owner.accessToken) });
    expect(opened.status).toBe(101);
    const ws = opened.ws as WebSocket;
    expect(ws.protocol).toBe(EVENTS_PROTOCOL);
    // Awaiting upload: nothing to show yet.
    expect(await nextMessage(ws)).toEqual({ type: "snapshot", event: null });
    ws.send(JSON.stringify({ type: "ping" }));
    expect(await nextMessage(ws)).toEqual({ type: "pong" });
    ws.close();

    expectError(await req("GET", path, { token: owner.accessToken }), 426, "upgrade_required");
    expect(await upgrade(path)).toMatchObject({ status: 401, code: "unauthorized" });
    const refused = await upgrade(path, { protocols: offer("garbage") });
    expect(refused).toMatchObject({ status: 401, code: "unauthorized" });
    expect(refused.body).not.toContain("garbage");
    expect(await upgrade(path, { protocols: offer(other.accessToken) })).toMatchObject({
      status: 404,
      code: "not_found",
    });
  });
});
