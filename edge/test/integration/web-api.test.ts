import {
  Channel,
  ChannelDetail,
  Comment,
  CommentList,
  CreateVideoResponse,
  Me,
  Video,
  VideoDetail,
  VideoList,
} from "@streamlet/shared";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { users, type VideoRow } from "../../src/db/schema.ts";
import { call, expectError, openDb, type TestUser, user as userOf, videoRow } from "./helpers.ts";

// What the web app reads besides the videos themselves, through the real stack: who am I (/v1/me), whose
// channel a video or comment belongs to, the signed-in viewer's relation to a video and a channel, and the
// feed of subscribed channels. Every user, channel and video is made here, with names of this file's own.
const { db, end } = openDb();
afterAll(() => end());

const user = () => userOf(db, "web-api");
/** A word no other video's title has, so search finds this file's videos alone. */
const word = () => `webapi${crypto.randomUUID().replace(/[^a-f]/g, "")}`;
const newHandle = () => `web_${crypto.randomUUID().replace(/-/g, "").slice(0, 20)}`;

async function channelOf(owner: TestUser, name = "Web channel") {
  const res = await call("POST", "/v1/channels", { token: owner.token, body: { handle: newHandle(), name } });
  expect(res.status, JSON.stringify(res.json)).toBe(201);
  return Channel.parse(res.json);
}

async function getJson(path: string, token?: string) {
  const res = await call("GET", path, { token });
  expect(res.status, JSON.stringify(res.json)).toBe(200);
  return res.json as Record<string, unknown>;
}

const ref = (channel: Channel) => ({ handle: channel.handle, name: channel.name });

describe("GET /v1/me", () => {
  it("answers 401 without a valid token", async () => {
    expectError(await call("GET", "/v1/me"), 401, "unauthorized");
    expectError(await call("GET", "/v1/me", { token: "not-a-token" }), 401, "unauthorized");
  });

  it("answers the user and a null channel before they create one, then the channel", async () => {
    const me = await user();
    const [row] = await db.select({ email: users.email }).from(users).where(eq(users.id, me.id));
    const before = Me.parse(await getJson("/v1/me", me.token));
    expect(before).toEqual({ user: { id: me.id, email: row?.email }, channel: null });

    const channel = await channelOf(me);
    const fan = await user();
    await call("PUT", `/v1/channels/${channel.handle}/subscription`, { token: fan.token });
    const after = await getJson("/v1/me", me.token);
    // The same Channel JSON as GET /v1/channels/:handle answers anonymously.
    expect(after.channel).toEqual(await getJson(`/v1/channels/${channel.handle}`));
    expect(Me.parse(after).channel?.subscriberCount).toBe(1);
  });
});

describe("video.channel", () => {
  let withChannel: TestUser;
  let without: TestUser;
  let channel: Channel;
  let title: string;
  let mine: VideoRow;
  let theirs: VideoRow;
  beforeAll(async () => {
    withChannel = await user();
    without = await user();
    channel = await channelOf(withChannel, "Has a channel");
    title = word();
    mine = await videoRow(db, withChannel.id, { title: `${title} with` });
    theirs = await videoRow(db, without.id, { title: `${title} without` });
  });

  it("is the owner's channel in a single video, null for an owner without one", async () => {
    expect(Video.parse(await getJson(`/v1/videos/${mine.id}`)).channel).toEqual(ref(channel));
    expect(Video.parse(await getJson(`/v1/videos/${theirs.id}`)).channel).toBeNull();
  });

  it("is set per video in the public list, search, channel page and your own videos", async () => {
    const listed = VideoList.parse(await getJson(`/v1/videos?q=${title}`));
    expect(Object.fromEntries(listed.videos.map((v) => [v.id, v.channel]))).toEqual({
      [mine.id]: ref(channel),
      [theirs.id]: null,
    });
    const page = VideoList.parse(await getJson(`/v1/channels/${channel.handle}/videos`));
    expect(page.videos.map((v) => [v.id, v.channel])).toEqual([[mine.id, ref(channel)]]);
    const own = VideoList.parse(await getJson("/v1/me/videos", withChannel.token));
    expect(own.videos.map((v) => v.channel)).toEqual([ref(channel)]);
    const ownWithout = VideoList.parse(await getJson("/v1/me/videos", without.token));
    expect(ownWithout.videos.map((v) => v.channel)).toEqual([null]);
  });

  it("is in the answers of create and change", async () => {
    const created = await call("POST", "/v1/videos", {
      token: withChannel.token,
      body: { title: "created", upload: { size: 1024 } },
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    expect(CreateVideoResponse.parse(created.json).video.channel).toEqual(ref(channel));
    const changed = await call("PATCH", `/v1/videos/${theirs.id}`, {
      token: without.token,
      body: { description: "changed" },
    });
    expect(changed.status).toBe(200);
    expect(Video.parse(changed.json).channel).toBeNull();
  });
});

describe("GET /v1/videos/:id viewer", () => {
  let owner: TestUser;
  let fan: TestUser;
  let channel: Channel;
  let video: VideoRow;
  beforeAll(async () => {
    owner = await user();
    fan = await user();
    channel = await channelOf(owner);
    video = await videoRow(db, owner.id);
  });
  const viewerOf = async (id: string, token?: string) =>
    VideoDetail.parse(await getJson(`/v1/videos/${id}`, token)).viewer;

  it("is absent for anonymous callers and 401 with an invalid token", async () => {
    expect(await getJson(`/v1/videos/${video.id}`)).not.toHaveProperty("viewer");
    expectError(await call("GET", `/v1/videos/${video.id}`, { token: "bad" }), 401, "unauthorized");
  });

  it("says the owner owns it", async () => {
    expect(await viewerOf(video.id, owner.token)).toEqual({
      isOwner: true,
      reaction: null,
      subscribed: false,
    });
  });

  it("follows another user's like, dislike and unreact", async () => {
    expect(await viewerOf(video.id, fan.token)).toEqual({
      isOwner: false,
      reaction: null,
      subscribed: false,
    });
    const react = (method: string, value?: string) =>
      call(method, `/v1/videos/${video.id}/reaction`, {
        token: fan.token,
        body: value === undefined ? undefined : { value },
      });
    expect((await react("PUT", "like")).status).toBe(200);
    expect((await viewerOf(video.id, fan.token))?.reaction).toBe("like");
    expect((await react("PUT", "dislike")).status).toBe(200);
    expect((await viewerOf(video.id, fan.token))?.reaction).toBe("dislike");
    expect((await react("DELETE")).status).toBe(200);
    expect((await viewerOf(video.id, fan.token))?.reaction).toBeNull();
    // The owner's view is the owner's: the fan's reaction is not theirs.
    expect((await viewerOf(video.id, owner.token))?.reaction).toBeNull();
  });

  it("follows subscribe and unsubscribe to the video's channel", async () => {
    const path = `/v1/channels/${channel.handle}/subscription`;
    expect((await call("PUT", path, { token: fan.token })).status).toBe(200);
    expect((await viewerOf(video.id, fan.token))?.subscribed).toBe(true);
    expect((await call("DELETE", path, { token: fan.token })).status).toBe(204);
    expect((await viewerOf(video.id, fan.token))?.subscribed).toBe(false);
  });

  it("says not subscribed for a video whose owner has no channel", async () => {
    const loner = await user();
    const row = await videoRow(db, loner.id);
    expect(await viewerOf(row.id, fan.token)).toEqual({ isOwner: false, reaction: null, subscribed: false });
  });

  it("is given to the owner of a private or processing video, while others still get 404", async () => {
    const hidden = await videoRow(db, owner.id, { visibility: "private" });
    expect(await viewerOf(hidden.id, owner.token)).toEqual({
      isOwner: true,
      reaction: null,
      subscribed: false,
    });
    expectError(await call("GET", `/v1/videos/${hidden.id}`, { token: fan.token }), 404, "not_found");
    const busy = await videoRow(db, owner.id, { status: "processing" });
    expect(await viewerOf(busy.id, fan.token)).toEqual({ isOwner: false, reaction: null, subscribed: false });
  });

  it("is on GET /v1/videos/:id only, not in lists", async () => {
    const list = await getJson(`/v1/channels/${channel.handle}/videos`, fan.token);
    for (const item of list.videos as object[]) expect(item).not.toHaveProperty("viewer");
  });
});

describe("GET /v1/channels/:handle subscribed", () => {
  it("is absent anonymously and follows the caller's subscription when signed in", async () => {
    const owner = await user();
    const fan = await user();
    const channel = await channelOf(owner);
    const path = `/v1/channels/${channel.handle}`;
    expect(await getJson(path)).not.toHaveProperty("subscribed");
    expect(ChannelDetail.parse(await getJson(path, fan.token)).subscribed).toBe(false);
    expect(ChannelDetail.parse(await getJson(path, owner.token)).subscribed).toBe(false);
    await call("PUT", `${path}/subscription`, { token: fan.token });
    const subscribed = ChannelDetail.parse(await getJson(path, fan.token));
    expect(subscribed).toMatchObject({ subscribed: true, subscriberCount: 1 });
    await call("DELETE", `${path}/subscription`, { token: fan.token });
    expect(ChannelDetail.parse(await getJson(path, fan.token)).subscribed).toBe(false);
    expectError(await call("GET", path, { token: "bad" }), 401, "unauthorized");
  });
});

describe("comment author", () => {
  it("names the author's channel (or null) in the created comment, the list and the replies, never an email", async () => {
    const owner = await user();
    const withChannel = await user();
    const without = await user();
    const channel = await channelOf(withChannel, "Commenter");
    const video = await videoRow(db, owner.id);
    const post = async (who: TestUser, body: object) => {
      const res = await call("POST", `/v1/videos/${video.id}/comments`, { token: who.token, body });
      expect(res.status, JSON.stringify(res.json)).toBe(201);
      expect(res.text).not.toContain("@example.com");
      return Comment.parse(res.json);
    };
    const top = await post(withChannel, { body: "first" });
    expect(top.author).toEqual({ id: withChannel.id, channel: ref(channel) });
    expect(top.authorId).toBe(withChannel.id);
    const plain = await post(without, { body: "second" });
    expect(plain.author).toEqual({ id: without.id, channel: null });
    await post(without, { body: "a reply", parentId: top.id });
    await post(withChannel, { body: "another reply", parentId: top.id });

    const listed = await call("GET", `/v1/videos/${video.id}/comments`);
    expect(listed.text).not.toContain("@example.com");
    expect(CommentList.parse(listed.json).comments.map((c) => [c.body, c.author])).toEqual([
      ["second", { id: without.id, channel: null }],
      ["first", { id: withChannel.id, channel: ref(channel) }],
    ]);
    const replies = await call("GET", `/v1/comments/${top.id}/replies`);
    expect(replies.text).not.toContain("@example.com");
    expect(CommentList.parse(replies.json).comments.map((c) => [c.body, c.author])).toEqual([
      ["another reply", { id: withChannel.id, channel: ref(channel) }],
      ["a reply", { id: without.id, channel: null }],
    ]);
  });
});

describe("GET /v1/me/feed", () => {
  let fan: TestUser;
  let followed: TestUser;
  let other: TestUser;
  let followedChannel: Channel;
  let otherChannel: Channel;
  let expected: VideoRow[];
  beforeAll(async () => {
    fan = await user();
    followed = await user();
    other = await user();
    followedChannel = await channelOf(followed, "Followed");
    otherChannel = await channelOf(other, "Not followed");
    const shown = [];
    for (let i = 0; i < 3; i++) shown.push(await videoRow(db, followed.id, { title: `feed ${i}` }));
    // Never in a feed: not public, not ready, or a channel the fan does not subscribe to.
    await videoRow(db, followed.id, { visibility: "private" });
    await videoRow(db, followed.id, { visibility: "unlisted" });
    await videoRow(db, followed.id, { status: "processing" });
    await videoRow(db, followed.id, { status: "failed" });
    await videoRow(db, other.id);
    await videoRow(db, fan.id);
    expected = shown.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1));
    for (const handle of [followedChannel.handle]) {
      expect((await call("PUT", `/v1/channels/${handle}/subscription`, { token: fan.token })).status).toBe(
        200,
      );
    }
  });

  it("answers 401 anonymously and 400 for a cursor it did not issue", async () => {
    expectError(await call("GET", "/v1/me/feed"), 401, "unauthorized");
    expectError(await call("GET", "/v1/me/feed?cursor=nope", { token: fan.token }), 400, "invalid_cursor");
    expectError(await call("GET", "/v1/me/feed?limit=0", { token: fan.token }), 400, "invalid_request");
  });

  it("is empty without subscriptions", async () => {
    const loner = await user();
    expect(VideoList.parse(await getJson("/v1/me/feed", loner.token))).toEqual({
      videos: [],
      nextCursor: null,
    });
  });

  it("lists the subscribed channels' public ready videos newest first, page by page", async () => {
    const all = VideoList.parse(await getJson("/v1/me/feed", fan.token));
    expect(all.videos.map((v) => v.id)).toEqual(expected.map((v) => v.id));
    expect(all.nextCursor).toBeNull();
    expect(all.videos.every((v) => v.channel?.handle === followedChannel.handle)).toBe(true);
    expect(all.videos.every((v) => v.stats !== undefined)).toBe(true);

    const seen: string[] = [];
    let cursor: string | null = null;
    for (let round = 0; round < 5; round++) {
      const query: string = cursor === null ? "" : `&cursor=${cursor}`;
      const page = VideoList.parse(await getJson(`/v1/me/feed?limit=2${query}`, fan.token));
      expect(page.videos.length).toBeLessThanOrEqual(2);
      seen.push(...page.videos.map((v) => v.id));
      cursor = page.nextCursor;
      if (cursor === null) break;
    }
    expect(seen).toEqual(expected.map((v) => v.id));
  });

  it("follows subscribing to another channel and unsubscribing", async () => {
    const extra = await videoRow(db, other.id, { title: "now followed" });
    const path = `/v1/channels/${otherChannel.handle}/subscription`;
    expect((await call("PUT", path, { token: fan.token })).status).toBe(200);
    const both = VideoList.parse(await getJson("/v1/me/feed", fan.token));
    expect(both.videos.map((v) => v.id)).toContain(extra.id);
    expect(both.videos).toHaveLength(expected.length + 2);
    expect((await call("DELETE", path, { token: fan.token })).status).toBe(204);
    const back = VideoList.parse(await getJson("/v1/me/feed", fan.token));
    expect(back.videos.map((v) => v.id)).toEqual(expected.map((v) => v.id));
  });
});
