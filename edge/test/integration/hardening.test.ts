import { Video } from "@streamlet/shared";
import { eq, sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { videos } from "../../src/db/schema.ts";
import { call, config, edge, expectError, openDb, readyVideo, user as userOf } from "./helpers.ts";

// Issue 10's measured attacks, replayed against the real stack (wrangler dev, Postgres, s3rver).
const { db, end } = openDb();
const user = () => userOf(db, "hardening");
afterAll(async () => {
  await end();
});

describe("request bodies", () => {
  it("refuses a 20 MiB JSON body with 413 payload_too_large", async () => {
    const owner = await user();
    const raw = JSON.stringify({ title: "big", description: "x".repeat(20 * 1024 * 1024) });
    const res = await call("POST", "/v1/videos", { token: owner.token, raw });
    expectError(res, 413, "payload_too_large");
  });

  it("accepts the largest legitimate body: 5000 characters of description, all escaped", async () => {
    const owner = await user();
    const description = "\u{1F600}".repeat(2500);
    const raw = JSON.stringify({ title: "t".repeat(200), description, upload: { size: 1024 } }).replace(
      /[\u{10000}-\u{10FFFF}]/gu,
      (char) => `\\u${char.charCodeAt(0).toString(16)}\\u${char.charCodeAt(1).toString(16)}`,
    );
    const res = await call("POST", "/v1/videos", { token: owner.token, raw });
    expect(res.status, res.text).toBe(201);
  });

  it("answers 400 invalid_request, never 500, for NUL and other control characters in text", async () => {
    const owner = await user();
    for (const body of [
      { title: "a\u0000b" },
      { title: "ok", description: "a\u0000b" },
      { title: "a\u001bb" },
    ]) {
      expectError(await call("POST", "/v1/videos", { token: owner.token, body }), 400, "invalid_request");
    }
    const handle = `h${crypto.randomUUID().slice(0, 8)}`;
    expectError(
      await call("POST", "/v1/channels", { token: owner.token, body: { handle, name: "n\u0000" } }),
      400,
      "invalid_request",
    );
    expectError(
      await call("POST", "/v1/channels", {
        token: owner.token,
        body: { handle, name: "n", description: "\u0000" },
      }),
      400,
      "invalid_request",
    );
    const video = await readyVideo(db, owner.id, "public");
    expectError(
      await call("POST", `/v1/videos/${video.id}/comments`, {
        token: owner.token,
        body: { body: "a\u0007b" },
      }),
      400,
      "invalid_request",
    );
    const created = await call("POST", "/v1/videos", {
      token: owner.token,
      body: { title: "fine", description: "line one\r\n\tline two", upload: { size: 1024 } },
    });
    expect(created.status).toBe(201);
  });

  it("answers 400 invalid_cursor for a cursor dated year 0000", async () => {
    const cursor = Buffer.from(`0000-01-01T00:00:00.000Z|${crypto.randomUUID()}`).toString("base64url");
    expectError(await call("GET", `/v1/videos?cursor=${cursor}`), 400, "invalid_cursor");
    const owner = await user();
    const video = await readyVideo(db, owner.id, "public");
    expectError(await call("GET", `/v1/videos/${video.id}/comments?cursor=${cursor}`), 400, "invalid_cursor");
  });
});

describe("response headers", () => {
  it("send X-Content-Type-Options: nosniff on API answers, errors and delivery", async () => {
    const owner = await user();
    const video = await readyVideo(db, owner.id, "public");
    for (const path of [
      "/healthz",
      "/v1/videos",
      "/v1/nope",
      `/v1/play/${video.id}/master.m3u8`,
      `/v1/play/${video.id}/720p/seg_00001.m4s`,
      `/v1/play/${crypto.randomUUID()}/master.m3u8`,
    ]) {
      const res = await call("GET", path);
      expect(res.headers.get("x-content-type-options"), path).toBe("nosniff");
    }
  });
});

describe("cached delivery under several hostnames", () => {
  /** A GET of a play path sent with another Host header (the same edge, reached under another name). */
  async function getAs(host: string, path: string): Promise<number> {
    const res = await fetch(`${edge}${path}`, { headers: { host } });
    await res.arrayBuffer();
    return res.status;
  }

  /** Polls until every path answers 404 under every host (the purge runs after the PATCH answers). */
  async function expectGoneEverywhere(hosts: string[], paths: string[], withinMs = 5000) {
    const deadline = Date.now() + withinMs;
    let statuses: number[] = [];
    do {
      statuses = [];
      for (const host of hosts) for (const path of paths) statuses.push(await getAs(host, path));
      if (statuses.every((status) => status === 404)) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    } while (Date.now() < deadline);
    expect(statuses).toEqual(statuses.map(() => 404));
  }

  it("serves no cached copy without a token under any hostname once the video is private", async () => {
    const owner = await user();
    const video = await readyVideo(db, owner.id, "public");
    const hosts = ["a.streamlet.test", "b.streamlet.test", new URL(edge).host];
    const paths = [`/v1/play/${video.id}/master.m3u8`, `/v1/play/${video.id}/720p/seg_00001.m4s`];
    for (const host of hosts)
      for (const path of paths) expect(await getAs(host, path), `${host}${path}`).toBe(200);

    const res = await call("PATCH", `/v1/videos/${video.id}`, {
      token: owner.token,
      body: { visibility: "private" },
    });
    expect(res.status).toBe(200);
    await expectGoneEverywhere(hosts, paths);
    // The owner's signed URLs still play, under any hostname.
    const token = /\/t\/([^/]+)\//.exec(Video.parse(res.json).playback.hls ?? "")?.[1] ?? "";
    expect(await getAs("b.streamlet.test", `/v1/play/${video.id}/t/${token}/master.m3u8`)).toBe(200);
  });

  // A data centre the purge never reached (no CLOUDFLARE_PURGE_TOKEN, or the purge API failing) is played
  // here by changing the row behind the edge's back, exactly as PATCH and DELETE do but with no purge: the
  // cached state expires within PLAYBACK_STATE_TTL_SECONDS (2 in the test stack) and the copies of the
  // old generation are never looked up again.
  const stateTtlMs = config.playbackStateTtlSeconds * 1000;

  it("stops serving without a token within the state's TTL where no purge arrived", async () => {
    const owner = await user();
    const video = await readyVideo(db, owner.id, "public");
    const hosts = ["a.streamlet.test", new URL(edge).host];
    const paths = [`/v1/play/${video.id}/master.m3u8`, `/v1/play/${video.id}/720p/seg_00001.m4s`];
    for (const host of hosts) for (const path of paths) expect(await getAs(host, path)).toBe(200);
    await db
      .update(videos)
      .set({ visibility: "private", cacheGeneration: sql`${videos.cacheGeneration} + 1` })
      .where(eq(videos.id, video.id));
    await expectGoneEverywhere(hosts, paths, stateTtlMs + 3000);
    const res = await call("GET", `/v1/videos/${video.id}`, { token: owner.token });
    const token = /\/t\/([^/]+)\//.exec(Video.parse(res.json).playback.hls ?? "")?.[1] ?? "";
    expect(await getAs("a.streamlet.test", `/v1/play/${video.id}/t/${token}/720p/seg_00001.m4s`)).toBe(200);
  });

  it("stops serving a deleted video within the state's TTL where no purge arrived", async () => {
    const owner = await user();
    const video = await readyVideo(db, owner.id, "public");
    const paths = [`/v1/play/${video.id}/master.m3u8`, `/v1/play/${video.id}/720p/seg_00001.m4s`];
    for (const path of paths) expect(await getAs("a.streamlet.test", path)).toBe(200);
    await db.delete(videos).where(eq(videos.id, video.id));
    await expectGoneEverywhere(["a.streamlet.test"], paths, stateTtlMs + 3000);
  });

  it("serves no cached copy under any hostname once the video is deleted", async () => {
    const owner = await user();
    const video = await readyVideo(db, owner.id, "public");
    const hosts = ["a.streamlet.test", "b.streamlet.test"];
    const paths = [`/v1/play/${video.id}/master.m3u8`, `/v1/play/${video.id}/720p/seg_00001.m4s`];
    for (const host of hosts) for (const path of paths) expect(await getAs(host, path)).toBe(200);
    expect((await call("DELETE", `/v1/videos/${video.id}`, { token: owner.token })).status).toBe(204);
    await expectGoneEverywhere(hosts, paths);
  });
});
