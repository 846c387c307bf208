import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { Comment, CommentList, ErrorEnvelope, ReactionSummary, Video, VideoList } from "@streamlet/shared";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { FLUSH_AT_PENDING, FLUSH_INTERVAL_MS, type ViewCounter } from "../../src/engagement/view-counter.ts";
import { VIEW_WINDOW_MS } from "../../src/engagement/view-ledger.ts";
import { edgeFetch, newUser, newVideo } from "./helpers.ts";

type Json = Record<string, unknown> | null;

async function call(
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; json: Json }> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers["content-type"] = "application/json";
  const res = await edgeFetch(path, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Json) : null };
}

function expectError(res: { status: number; json: Json }, status: number, code: string) {
  expect(res.status, JSON.stringify(res.json)).toBe(status);
  expect(ErrorEnvelope.parse(res.json).error.code).toBe(code);
}

const readyVideo = (ownerId: string) => newVideo(ownerId, { status: "ready", readyAt: new Date() });
const statsOf = async (id: string) => Video.parse((await call("GET", `/v1/videos/${id}`)).json).stats;
const counter = (videoId: string) => env.VIEW_COUNTER.get(env.VIEW_COUNTER.idFromName(videoId));

describe("reactions", () => {
  it("keeps one reaction per user: like, switch, undo, and shows the totals on the video", async () => {
    const owner = await newUser();
    const [ada, bob] = [await newUser(), await newUser()];
    const video = await readyVideo(owner.id);
    const react = (token: string, value: string) =>
      call("PUT", `/v1/videos/${video.id}/reaction`, { token, body: { value } });

    let res = await react(ada.token, "like");
    expect(res.status).toBe(200);
    expect(ReactionSummary.parse(res.json)).toEqual({ likes: 1, dislikes: 0, mine: "like" });
    res = await react(bob.token, "dislike");
    expect(res.json).toEqual({ likes: 1, dislikes: 1, mine: "dislike" });
    res = await react(ada.token, "dislike");
    expect(res.json).toEqual({ likes: 0, dislikes: 2, mine: "dislike" });
    expect(await statsOf(video.id)).toEqual({ views: 0, likes: 0, dislikes: 2, comments: 0 });

    res = await call("DELETE", `/v1/videos/${video.id}/reaction`, { token: ada.token });
    expect(res).toEqual({ status: 200, json: { likes: 0, dislikes: 1, mine: null } });
    res = await call("DELETE", `/v1/videos/${video.id}/reaction`, { token: ada.token });
    expect(res).toEqual({ status: 200, json: { likes: 0, dislikes: 1, mine: null } });
  });

  it("refuses anonymous callers, bad values, and videos that are missing, malformed or not ready", async () => {
    const owner = await newUser();
    const ready = await readyVideo(owner.id);
    const queued = await newVideo(owner.id);
    expectError(
      await call("PUT", `/v1/videos/${ready.id}/reaction`, { body: { value: "like" } }),
      401,
      "unauthorized",
    );
    expectError(await call("DELETE", `/v1/videos/${ready.id}/reaction`), 401, "unauthorized");
    for (const body of [{ value: "love" }, {}, { value: "like", extra: 1 }, "like"]) {
      expectError(
        await call("PUT", `/v1/videos/${ready.id}/reaction`, { token: owner.token, body }),
        400,
        "invalid_request",
      );
    }
    for (const id of [queued.id, crypto.randomUUID(), "not-a-uuid"]) {
      expectError(
        await call("PUT", `/v1/videos/${id}/reaction`, { token: owner.token, body: { value: "like" } }),
        404,
        "not_found",
      );
      expectError(
        await call("DELETE", `/v1/videos/${id}/reaction`, { token: owner.token }),
        404,
        "not_found",
      );
    }
  });
});

describe("views", () => {
  it("counts a viewer once per 30 minutes and writes the views to the store in one batch from the alarm", async () => {
    const owner = await newUser();
    const viewer = await newUser();
    const video = await readyVideo(owner.id);
    const view = async (headers: Record<string, string>, token?: string) => {
      const res = await call("POST", `/v1/videos/${video.id}/views`, { headers, token });
      expect(res.status).toBe(202);
      return (res.json as { counted: boolean }).counted;
    };
    const laptop = { "cf-connecting-ip": "203.0.113.7", "user-agent": "Firefox" };
    expect(await view(laptop)).toBe(true);
    expect(await view(laptop)).toBe(false);
    // Another User-Agent from the same address is the same anonymous viewer (twenty of them: one view).
    for (let i = 0; i < 20; i++) expect(await view({ ...laptop, "user-agent": `Browser ${i}` })).toBe(false);
    expect(await view({ ...laptop, "cf-connecting-ip": "198.51.100.1" })).toBe(true);
    expect(await view(laptop, viewer.token)).toBe(true);
    expect(await view({}, viewer.token)).toBe(false); // the same user anywhere

    // Nothing is written per view: the store sees the views only when the alarm flushes them.
    expect((await statsOf(video.id))?.views).toBe(0);
    const alarmAt = await runInDurableObject(counter(video.id), (_, state) => state.storage.getAlarm());
    expect(alarmAt).not.toBeNull();
    expect(alarmAt ?? 0).toBeLessThanOrEqual(Date.now() + FLUSH_INTERVAL_MS);
    expect(await runDurableObjectAlarm(counter(video.id))).toBe(true);
    expect((await statsOf(video.id))?.views).toBe(3);

    // The raw address is never stored: anonymous viewers are salted hashes.
    const keys = await runInDurableObject(counter(video.id), (_, state) =>
      state.storage.sql.exec<{ viewer: string }>("SELECT viewer FROM seen").toArray(),
    );
    expect(keys).toHaveLength(3);
    expect(JSON.stringify(keys)).not.toContain("203.0.113.7");
    expect(keys.filter((k) => k.viewer === `user:${viewer.id}`)).toHaveLength(1);

    // With nothing pending, the alarm comes back only to forget viewers when their 30 minutes end.
    const cleanupAt = await runInDurableObject(counter(video.id), (_, state) => state.storage.getAlarm());
    expect(cleanupAt ?? 0).toBeGreaterThan(Date.now() + VIEW_WINDOW_MS - 60_000);
    await runInDurableObject(counter(video.id), (_, state) => {
      state.storage.sql.exec("UPDATE seen SET expires_at = ?", Date.now() - 1);
    });
    expect(await runDurableObjectAlarm(counter(video.id))).toBe(true);
    const left = await runInDurableObject(counter(video.id), (_, state) => ({
      seen: state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM seen").one().n,
      alarm: state.storage.getAlarm(),
    }));
    expect(left.seen).toBe(0);
    expect(await left.alarm).toBeNull();

    // Once forgotten, the same viewer counts again.
    expect(await view(laptop)).toBe(true);
    expect(await runDurableObjectAlarm(counter(video.id))).toBe(true);
    expect((await statsOf(video.id))?.views).toBe(4);
  });

  it("forget() (the video is being deleted) drops pending views and their alarm; no later view is counted", async () => {
    const owner = await newUser();
    const video = await readyVideo(owner.id);
    const res = await call("POST", `/v1/videos/${video.id}/views`, {
      headers: { "cf-connecting-ip": "203.0.113.9" },
    });
    expect((res.json as { counted: boolean }).counted).toBe(true);
    await counter(video.id).forget();
    const after = await runInDurableObject(counter(video.id), (_, state) => ({
      alarm: state.storage.getAlarm(),
      tables: state.storage.sql
        .exec<{ n: number }>(
          "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '_cf_%'",
        )
        .one().n,
    }));
    expect(await after.alarm).toBeNull();
    expect(after.tables).toBe(0);
    expect(await runDurableObjectAlarm(counter(video.id))).toBe(false); // nothing scheduled
    expect(await counter(video.id).view(video.id, "viewer:late")).toEqual({ counted: false });
    expect((await statsOf(video.id))?.views).toBe(0);
  });

  it(`flushes at once when ${FLUSH_AT_PENDING} views are pending`, async () => {
    const owner = await newUser();
    const video = await readyVideo(owner.id);
    const stub = counter(video.id);
    for (let i = 0; i < FLUSH_AT_PENDING - 1; i++) await stub.view(video.id, `anon:${i}`);
    const before = await runInDurableObject(stub, (_, state) => state.storage.getAlarm());
    expect(before ?? 0).toBeGreaterThan(Date.now());
    await stub.view(video.id, "anon:last");
    // The 100th moves the alarm to now: the store has every view well before the 10 s interval.
    const deadline = Date.now() + FLUSH_INTERVAL_MS / 2;
    let views = (await statsOf(video.id))?.views;
    while (views !== FLUSH_AT_PENDING && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      views = (await statsOf(video.id))?.views;
    }
    expect(views).toBe(FLUSH_AT_PENDING);
  });

  it("keeps views pending when the store write fails, and writes them on a later alarm", async () => {
    const owner = await newUser();
    const video = await readyVideo(owner.id);
    const stub = counter(video.id);
    await stub.view(video.id, "anon:a");
    await stub.view(video.id, "anon:b");
    // The object reads the env on each flush: point it at a dead database for one round.
    const logged: unknown[] = [];
    await runInDurableObject(stub, async (instance: ViewCounter) => {
      const holder = instance as unknown as { env: Env };
      const saved = holder.env;
      const error = console.error;
      console.error = (...args: unknown[]) => logged.push(args[0]);
      try {
        holder.env = { ...saved, DATABASE_URL: "postgres://nobody:nothing@127.0.0.1:1/none" };
        await instance.alarm();
      } finally {
        holder.env = saved;
        console.error = error;
      }
    });
    expect(String(logged[0])).toContain("writing 2 views failed");
    expect((await statsOf(video.id))?.views).toBe(0);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await statsOf(video.id))?.views).toBe(2);
  });

  it("allows anonymous viewers but refuses an invalid token, and videos that are not ready", async () => {
    const owner = await newUser();
    const ready = await readyVideo(owner.id);
    const queued = await newVideo(owner.id);
    expectError(
      await call("POST", `/v1/videos/${ready.id}/views`, { token: "garbage" }),
      401,
      "unauthorized",
    );
    for (const id of [queued.id, crypto.randomUUID(), "nope"]) {
      expectError(await call("POST", `/v1/videos/${id}/views`), 404, "not_found");
    }
  });
});

describe("comments", () => {
  const post = (videoId: string, token: string | undefined, body: unknown) =>
    call("POST", `/v1/videos/${videoId}/comments`, { token, body });

  it("creates comments and one level of replies, and lists them newest first with opaque cursors", async () => {
    const owner = await newUser();
    const fan = await newUser();
    const video = await readyVideo(owner.id);
    const other = await readyVideo(owner.id);
    const created: Comment[] = [];
    for (const body of ["one", "two", "three"]) {
      const res = await post(video.id, fan.token, { body: `  ${body}\n` });
      expect(res.status).toBe(201);
      created.push(Comment.parse(res.json));
      await new Promise((resolve) => setTimeout(resolve, 3));
    }
    expect(created[0]).toMatchObject({ body: "one", videoId: video.id, authorId: fan.id, parentId: null });
    const parent = created[0] as Comment;
    const reply = await post(video.id, owner.token, { body: "reply", parentId: parent.id.toUpperCase() });
    expect(reply.status).toBe(201);
    const replyId = Comment.parse(reply.json).id;
    expect(Comment.parse(reply.json).parentId).toBe(parent.id);

    expectError(await post(video.id, fan.token, { body: "deep", parentId: replyId }), 400, "reply_depth");
    expectError(await post(other.id, fan.token, { body: "x", parentId: parent.id }), 400, "invalid_parent");
    expectError(
      await post(video.id, fan.token, { body: "x", parentId: crypto.randomUUID() }),
      400,
      "invalid_parent",
    );
    expectError(await post(video.id, fan.token, { body: "x", parentId: "nope" }), 400, "invalid_parent");

    const first = CommentList.parse((await call("GET", `/v1/videos/${video.id}/comments?limit=2`)).json);
    expect(first.comments.map((c) => c.body)).toEqual(["three", "two"]);
    expect(first.nextCursor).toEqual(expect.any(String));
    const second = CommentList.parse(
      (await call("GET", `/v1/videos/${video.id}/comments?limit=2&cursor=${first.nextCursor}`)).json,
    );
    expect(second.comments.map((c) => [c.body, c.replyCount])).toEqual([["one", 1]]);
    expect(second.nextCursor).toBeNull();

    const replies = CommentList.parse((await call("GET", `/v1/comments/${parent.id}/replies`)).json);
    expect(replies).toEqual({ comments: [Comment.parse(reply.json)], nextCursor: null });
    expect(await statsOf(video.id)).toMatchObject({ comments: 4 });

    expectError(await call("GET", `/v1/videos/${video.id}/comments?cursor=bogus`), 400, "invalid_cursor");
    expectError(await call("GET", `/v1/comments/${parent.id}/replies?cursor=bogus`), 400, "invalid_cursor");
    expectError(await call("GET", `/v1/videos/${video.id}/comments?limit=0`), 400, "invalid_request");
    expectError(await call("GET", `/v1/comments/${crypto.randomUUID()}/replies`), 404, "not_found");
  });

  it("validates the body: 1-2000 characters after trimming, no unknown fields, signed in", async () => {
    const owner = await newUser();
    const video = await readyVideo(owner.id);
    const longest = `  ${"x".repeat(2000)}  `;
    expect((await post(video.id, owner.token, { body: longest })).status).toBe(201);
    for (const body of [
      { body: "   " },
      { body: "" },
      { body: "x".repeat(2001) },
      { body: "nul\u0000inside" },
      { body: 42 },
      { body: "ok", extra: true },
      {},
      [],
    ]) {
      expectError(await post(video.id, owner.token, body), 400, "invalid_request");
    }
    expectError(await post(video.id, undefined, { body: "hi" }), 401, "unauthorized");
    const queued = await newVideo(owner.id);
    expectError(await post(queued.id, owner.token, { body: "hi" }), 404, "not_found");
    expectError(await call("GET", `/v1/videos/${queued.id}/comments`), 404, "not_found");
  });

  it("lets the author or the video's owner delete a comment (with its replies); anyone else gets 404", async () => {
    const owner = await newUser();
    const fan = await newUser();
    const stranger = await newUser();
    const video = await readyVideo(owner.id);
    const top = Comment.parse((await post(video.id, fan.token, { body: "top" })).json);
    const reply = Comment.parse((await post(video.id, fan.token, { body: "reply", parentId: top.id })).json);
    const mine = Comment.parse((await post(video.id, fan.token, { body: "mine" })).json);

    expectError(await call("DELETE", `/v1/comments/${top.id}`, { token: stranger.token }), 404, "not_found");
    expectError(await call("DELETE", `/v1/comments/${top.id}`), 401, "unauthorized");
    expectError(await call("DELETE", "/v1/comments/not-a-uuid", { token: fan.token }), 404, "not_found");

    // The video's owner deletes a fan's thread; the reply goes with it.
    expect((await call("DELETE", `/v1/comments/${top.id}`, { token: owner.token })).status).toBe(204);
    expectError(await call("GET", `/v1/comments/${top.id}/replies`), 404, "not_found");
    expectError(await call("DELETE", `/v1/comments/${reply.id}`, { token: fan.token }), 404, "not_found");
    // The author deletes their own.
    const res = await edgeFetch(`/v1/comments/${mine.id}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${fan.token}` },
    });
    expect(res.status).toBe(204);
    expect(await res.text()).toBe("");
    expect(await statsOf(video.id)).toMatchObject({ comments: 0 });
  });
});

describe("stats on video reads", () => {
  it("adds stats to GET /v1/videos/:id (zeros before ready) and to every video of the list", async () => {
    const owner = await newUser();
    const video = await readyVideo(owner.id);
    await call("PUT", `/v1/videos/${video.id}/reaction`, { token: owner.token, body: { value: "like" } });
    await call("POST", `/v1/videos/${video.id}/comments`, { token: owner.token, body: { body: "hi" } });
    expect(await statsOf(video.id)).toEqual({ views: 0, likes: 1, dislikes: 0, comments: 1 });
    const queued = await newVideo(owner.id);
    expect(await statsOf(queued.id)).toEqual({ views: 0, likes: 0, dislikes: 0, comments: 0 });

    const list = VideoList.parse((await call("GET", "/v1/videos?limit=100")).json);
    expect(list.videos.length).toBeGreaterThan(0);
    for (const item of list.videos) expect(item.stats).toBeDefined();
    expect(list.videos.find((v) => v.id === video.id)?.stats).toEqual({
      views: 0,
      likes: 1,
      dislikes: 0,
      comments: 1,
    });
  });
});

describe("per-user quotas", () => {
  // The workers project's limits (workers-global-setup.ts), as the Worker reads them.
  const limits = loadConfig(env).rateLimits;

  it("answers 429 rate_limited with Retry-After once a user has posted the comment quota, wherever from", async () => {
    const rule = limits.comments;
    if (!rule) throw new Error("the workers project must leave RATE_LIMIT_COMMENTS on");
    const owner = await newUser();
    const spammer = await newUser();
    const video = await readyVideo(owner.id);
    const post = (token: string, body: unknown, ip: string) =>
      call("POST", `/v1/videos/${video.id}/comments`, { token, body, headers: { "cf-connecting-ip": ip } });
    // Refused requests cost nothing.
    for (let i = 0; i < 3; i++)
      expectError(await post(spammer.token, { body: "" }, "203.0.113.1"), 400, "invalid_request");
    for (let i = 0; i < rule.limit; i++) {
      expect((await post(spammer.token, { body: `spam ${i}` }, `203.0.113.${i + 2}`)).status).toBe(201);
    }
    const refused = await call("POST", `/v1/videos/${video.id}/comments`, {
      token: spammer.token,
      body: { body: "one more" },
      headers: { "cf-connecting-ip": "198.51.100.1" },
    });
    expectError(refused, 429, "rate_limited");
    expect(String(refused.json?.error && (refused.json.error as { message: string }).message)).toMatch(
      /^you have posted too many comments; try again in \d+ seconds$/,
    );
    // Another user is not affected.
    expect((await post(owner.token, { body: "fine" }, "203.0.113.1")).status).toBe(201);
  });

  it("limits reactions per user", async () => {
    const rule = limits.reactions;
    if (!rule) throw new Error("the workers project must leave RATE_LIMIT_REACTIONS on");
    const owner = await newUser();
    const fan = await newUser();
    const video = await readyVideo(owner.id);
    const react = (value: string) =>
      call("PUT", `/v1/videos/${video.id}/reaction`, { token: fan.token, body: { value } });
    for (let i = 0; i < rule.limit; i++) expect((await react(i % 2 ? "like" : "dislike")).status).toBe(200);
    expectError(await react("like"), 429, "rate_limited");
    expectError(
      await call("DELETE", `/v1/videos/${video.id}/reaction`, { token: fan.token }),
      429,
      "rate_limited",
    );
  });
});
