import {
  outputPrefix,
  sourceKey,
  TRANSCODE_QUEUE,
  Video,
  VideoList,
  type Visibility,
} from "@streamlet/shared";
import { Queue } from "bullmq";
import { eq } from "drizzle-orm";
import IORedis from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { comments, reactions, videos } from "../../src/db/schema.ts";
import {
  call,
  config,
  edge,
  expectError,
  MASTER,
  openDb,
  playbackToken,
  putObject,
  readyVideo as readyVideoOf,
  storedKeys,
  user as userOf,
} from "./helpers.ts";

// Visibility, PATCH, DELETE, /v1/me/videos and signed delivery of private videos through the real stack
// (wrangler dev, Postgres through the Neon bridge, s3rver, Redis).
const { db, end } = openDb();
const user = () => userOf(db, "access");
const readyVideo = (ownerId: string, visibility: Visibility) => readyVideoOf(db, ownerId, visibility);

let redis: IORedis;
let queue: Queue;
beforeAll(() => {
  redis = new IORedis(config.redisUrl, { maxRetriesPerRequest: null });
  queue = new Queue(TRANSCODE_QUEUE, { connection: redis });
});
afterAll(async () => {
  await queue.close();
  redis.disconnect();
  await end();
});

type Who = "anonymous" | "other" | "owner";
const VISIBILITIES: Visibility[] = ["public", "unlisted", "private"];

describe("authorisation matrix: route × caller × visibility", () => {
  let owner: Awaited<ReturnType<typeof user>>;
  let other: Awaited<ReturnType<typeof user>>;
  beforeAll(async () => {
    owner = await user();
    other = await user();
  });
  const tokenOf = (who: Who) => (who === "owner" ? owner.token : who === "other" ? other.token : undefined);
  const callers: Who[] = ["anonymous", "other", "owner"];

  // Expected status per caller: the same for every visibility unless `private` says otherwise.
  const routes: Array<{
    name: string;
    run: (id: string, token: string | undefined) => Promise<{ status: number; json: unknown }>;
    expect: Record<Who, number>;
    private?: Partial<Record<Who, number>>;
  }> = [
    {
      name: "GET /v1/videos/:id",
      run: (id, token) => call("GET", `/v1/videos/${id}`, { token }),
      expect: { anonymous: 200, other: 200, owner: 200 },
      private: { anonymous: 404, other: 404 },
    },
    {
      name: "PATCH /v1/videos/:id",
      run: (id, token) => call("PATCH", `/v1/videos/${id}`, { token, body: { title: "renamed" } }),
      expect: { anonymous: 401, other: 404, owner: 200 },
    },
    {
      name: "GET /v1/play/:id/master.m3u8",
      run: (id) => call("GET", `/v1/play/${id}/master.m3u8`),
      expect: { anonymous: 200, other: 200, owner: 200 },
      private: { anonymous: 404, other: 404, owner: 404 },
    },
    {
      name: "GET /v1/videos/:id/comments (canRead)",
      run: (id, token) => call("GET", `/v1/videos/${id}/comments`, { token }),
      expect: { anonymous: 200, other: 200, owner: 200 },
      private: { anonymous: 404, other: 404 },
    },
    {
      name: "DELETE /v1/videos/:id",
      run: (id, token) => call("DELETE", `/v1/videos/${id}`, { token }),
      expect: { anonymous: 401, other: 404, owner: 204 },
    },
  ];

  const cases = routes.flatMap((route) =>
    VISIBILITIES.flatMap((visibility) =>
      callers.map((who) => ({
        route,
        visibility,
        who,
        status: (visibility === "private" ? route.private?.[who] : undefined) ?? route.expect[who],
      })),
    ),
  );

  it.each(cases.map((c) => [c.route.name, c.who, c.visibility, c.status, c] as const))(
    "%s as %s on a %s video → %i",
    async (_name, who, visibility, status, { route }) => {
      const video = await readyVideo(owner.id, visibility);
      const res = await route.run(video.id, tokenOf(who));
      expect(res.status, JSON.stringify(res.json)).toBe(status);
      if (status === 404) expectError(res, 404, "not_found");
    },
  );

  it.each(VISIBILITIES)(
    "GET /v1/me/videos lists the owner's %s video, to the owner only",
    async (visibility) => {
      const video = await readyVideo(owner.id, visibility);
      expectError(await call("GET", "/v1/me/videos"), 401, "unauthorized");
      const mine = VideoList.parse(
        (await call("GET", "/v1/me/videos?limit=100", { token: owner.token })).json,
      );
      expect(mine.videos.map((v) => v.id)).toContain(video.id);
      const theirs = VideoList.parse(
        (await call("GET", "/v1/me/videos?limit=100", { token: other.token })).json,
      );
      expect(theirs.videos.map((v) => v.id)).not.toContain(video.id);
    },
  );

  it.each([
    ["public", true],
    ["unlisted", false],
    ["private", false],
  ] as const)("the public list shows a %s video: %s", async (visibility, listed) => {
    const video = await readyVideo(owner.id, visibility);
    const list = VideoList.parse((await call("GET", "/v1/videos?limit=100", { token: owner.token })).json);
    expect(list.videos.some((v) => v.id === video.id)).toBe(listed);
  });
});

describe("PATCH /v1/videos/:id", () => {
  it("changes title, description and visibility; refuses empty, unknown or bad fields", async () => {
    const owner = await user();
    const video = await readyVideo(owner.id, "public");
    const res = await call("PATCH", `/v1/videos/${video.id}`, {
      token: owner.token,
      body: { title: " New ", description: "about", visibility: "unlisted" },
    });
    expect(res.status).toBe(200);
    expect(Video.parse(res.json)).toMatchObject({
      title: "New",
      description: "about",
      visibility: "unlisted",
    });
    const cleared = await call("PATCH", `/v1/videos/${video.id}`, {
      token: owner.token,
      body: { description: null },
    });
    expect(Video.parse(cleared.json).description).toBeNull();
    for (const body of [{}, { owner: "x" }, { visibility: "secret" }, { title: "" }]) {
      expectError(
        await call("PATCH", `/v1/videos/${video.id}`, { token: owner.token, body }),
        400,
        "invalid_request",
      );
    }
    expectError(
      await call("PATCH", "/v1/videos/not-a-uuid", { token: owner.token, body: { title: "x" } }),
      404,
      "not_found",
    );
  });
});

describe("GET /v1/me/videos", () => {
  it("lists every status and visibility, newest first, with a cursor", async () => {
    const owner = await user();
    const ids: string[] = [];
    for (const [status, visibility] of [
      ["awaiting_upload", "private"],
      ["queued", "public"],
      ["failed", "unlisted"],
      ["ready", "private"],
      ["ready", "public"],
    ] as const) {
      const [row] = await db
        .insert(videos)
        .values({ ownerId: owner.id, title: `${status}-${visibility}`, status, visibility })
        .returning({ id: videos.id });
      ids.push(row?.id ?? "");
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
      const page = VideoList.parse(
        (await call("GET", `/v1/me/videos?limit=2${query}`, { token: owner.token })).json,
      );
      expect(page.videos.length).toBeLessThanOrEqual(2);
      seen.push(...page.videos.map((v) => v.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
    expectError(
      await call("GET", "/v1/me/videos?cursor=nope", { token: owner.token }),
      400,
      "invalid_cursor",
    );
  });
});

describe("signed delivery of private videos", () => {
  let owner: Awaited<ReturnType<typeof user>>;
  beforeAll(async () => {
    owner = await user();
  });

  it("gives the owner tokened playback URLs that every relative URI inherits", async () => {
    const video = await readyVideo(owner.id, "private");
    const got = Video.parse((await call("GET", `/v1/videos/${video.id}`, { token: owner.token })).json);
    const match = new RegExp(`^${edge}/v1/play/${video.id}/t/(\\d+\\.[A-Za-z0-9_-]{43})/master\\.m3u8$`).exec(
      got.playback.hls ?? "",
    );
    expect(match, got.playback.hls ?? "null").not.toBeNull();
    expect(got.playback.poster).toBe(got.playback.hls?.replace("master.m3u8", "poster.jpg"));
    const master = await fetch(got.playback.hls ?? "");
    expect(master.status).toBe(200);
    expect(await master.text()).toBe(MASTER);
    expect(master.headers.get("x-streamlet-visibility")).toBeNull();
    expect(master.headers.get("cache-control")).toMatch(/^private/);
    const segment = await fetch(new URL("720p/seg_00001.m4s", got.playback.hls ?? ""), {
      headers: { range: "bytes=0-9" },
    });
    expect(segment.status).toBe(206);
    expect((await segment.arrayBuffer()).byteLength).toBe(10);
    // Now cached: the cache hit still refuses a request without a token.
    expectError(await call("GET", `/v1/play/${video.id}/master.m3u8`), 404, "not_found");
    expectError(await call("GET", `/v1/play/${video.id}/720p/seg_00001.m4s`), 404, "not_found");
  });

  it.each([
    ["no token", async (_id: string) => null],
    [
      "an expired token",
      async (id: string) => playbackToken(id, config.jwtSecret, Math.floor(Date.now() / 1000) - 1),
    ],
    ["another video's token", async (_id: string) => playbackToken(crypto.randomUUID(), config.jwtSecret)],
    ["a token signed with another secret", async (id: string) => playbackToken(id, "x".repeat(40))],
    ["garbage", async (_id: string) => "123.abc"],
  ])("answers 404 for a private video with %s, before and after it is cached", async (_, tokenFor) => {
    const video = await readyVideo(owner.id, "private");
    const token = await tokenFor(video.id);
    const path = token ? `/v1/play/${video.id}/t/${token}/master.m3u8` : `/v1/play/${video.id}/master.m3u8`;
    expectError(await call("GET", path), 404, "not_found");
    const good = await playbackToken(video.id, config.jwtSecret);
    expect((await call("GET", `/v1/play/${video.id}/t/${good}/master.m3u8`)).status).toBe(200);
    expectError(await call("GET", path), 404, "not_found");
  });

  it("serves public and unlisted videos with and without a token path", async () => {
    for (const visibility of ["public", "unlisted"] as const) {
      const video = await readyVideo(owner.id, visibility);
      const token = await playbackToken(video.id, config.jwtSecret);
      for (const path of [
        `/v1/play/${video.id}/master.m3u8`,
        `/v1/play/${video.id}/t/${token}/master.m3u8`,
      ]) {
        const res = await call("GET", path);
        expect(res.status).toBe(200);
        expect(res.text).toBe(MASTER);
        expect(res.headers.get("cache-control")).toMatch(/^public/);
      }
      const got = Video.parse((await call("GET", `/v1/videos/${video.id}`)).json);
      expect(got.playback.hls).toBe(`${edge}/v1/play/${video.id}/master.m3u8`);
    }
  });

  it("stops serving cached copies without a token once a video turns private", async () => {
    const video = await readyVideo(owner.id, "public");
    expect((await call("GET", `/v1/play/${video.id}/master.m3u8`)).status).toBe(200);
    const res = await call("PATCH", `/v1/videos/${video.id}`, {
      token: owner.token,
      body: { visibility: "private" },
    });
    expect(res.status).toBe(200);
    expect(Video.parse(res.json).playback.hls).toContain("/t/");
    // The purge runs after the response (waitUntil): give it a moment.
    const deadline = Date.now() + 5000;
    let status = 200;
    while (status !== 404 && Date.now() < deadline) {
      status = (await call("GET", `/v1/play/${video.id}/master.m3u8`)).status;
      if (status !== 404) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(status).toBe(404);
  });
});

describe("DELETE /v1/videos/:id", () => {
  it("removes the row, its engagement, its stored files and its cached copies", async () => {
    const owner = await user();
    const fan = await user();
    const video = await readyVideo(owner.id, "public");
    expect((await call("GET", `/v1/play/${video.id}/master.m3u8`)).status).toBe(200); // cached now
    await db.insert(reactions).values({ videoId: video.id, userId: fan.id, value: "like" });
    await db.insert(comments).values({ videoId: video.id, authorId: fan.id, body: "bye" });
    expect(await storedKeys(video.id)).toHaveLength(3);

    expect((await call("DELETE", `/v1/videos/${video.id}`, { token: owner.token })).status).toBe(204);
    expect(await db.select().from(videos).where(eq(videos.id, video.id))).toEqual([]);
    expect(await db.select().from(reactions).where(eq(reactions.videoId, video.id))).toEqual([]);
    expect(await db.select().from(comments).where(eq(comments.videoId, video.id))).toEqual([]);
    expect(await storedKeys(video.id)).toEqual([]);
    expectError(await call("GET", `/v1/videos/${video.id}`), 404, "not_found");
    expectError(await call("GET", `/v1/play/${video.id}/master.m3u8`), 404, "not_found");
    expectError(await call("DELETE", `/v1/videos/${video.id}`, { token: owner.token }), 404, "not_found");
  });

  it("removes a transcode job that has not started", async () => {
    const owner = await user();
    const [row] = await db
      .insert(videos)
      .values({ ownerId: owner.id, title: "queued", status: "queued", sourceBytes: 3 })
      .returning();
    const id = row?.id ?? "";
    await putObject(sourceKey(id), "src");
    // Delayed, so the stack's transcoder does not pick it up before the delete.
    await queue.add(
      "transcode",
      { videoId: id, input: { key: sourceKey(id) }, output: { prefix: outputPrefix(id) } },
      { jobId: id, delay: 60_000 },
    );
    expect(await queue.getJob(id)).toBeDefined();
    expect((await call("DELETE", `/v1/videos/${id}`, { token: owner.token })).status).toBe(204);
    expect(await queue.getJob(id)).toBeUndefined();
    expect(await storedKeys(id)).toEqual([]);
  });
});

describe("a failed video's reason", () => {
  it("is the technical one for the owner and a generic one for everybody else", async () => {
    const owner = await user();
    const other = await user();
    const reason = "ffmpeg exited with code 1: /tmp/job-42/source.mp4: Invalid data found";
    const [row] = await db
      .insert(videos)
      .values({
        ownerId: owner.id,
        title: "broken",
        status: "failed",
        visibility: "public",
        failureReason: reason,
      })
      .returning({ id: videos.id });
    const id = row?.id ?? "";
    const reasonFor = async (token?: string) =>
      Video.parse((await call("GET", `/v1/videos/${id}`, token ? { token } : {})).json).failureReason;
    expect(await reasonFor(owner.token)).toBe(reason);
    expect(await reasonFor(other.token)).toBe("processing failed");
    expect(await reasonFor()).toBe("processing failed");
    const mine = VideoList.parse((await call("GET", "/v1/me/videos", { token: owner.token })).json);
    expect(mine.videos.find((video) => video.id === id)?.failureReason).toBe(reason);
  });
});
