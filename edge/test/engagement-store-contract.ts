import { afterEach, beforeEach, expect, it } from "vitest";
import type { Db } from "../src/db/client.ts";
import { users, videos } from "../src/db/schema.ts";
import { PostgresEngagementStore } from "../src/engagement/postgres-store.ts";
import type { CommentRecord, EngagementStore, PageRequest } from "../src/engagement/store.ts";

/** What the contract needs from one implementation; made afresh for every test. */
export type StoreFixture = {
  store: EngagementStore;
  /** A user id the store may reference (a users row where the store enforces foreign keys). */
  newUser(): Promise<string>;
  /** A ready video of `ownerId` the store may reference. */
  newVideo(ownerId: string): Promise<string>;
  /** Releases the fixture's connections. */
  close(): Promise<void>;
};

/** The Postgres store over `db`, with users and ready videos inserted as rows (its foreign keys need them). */
export function postgresStoreFixture(db: Db, end: () => Promise<void>): StoreFixture {
  return {
    store: new PostgresEngagementStore(db),
    newUser: async () => {
      const [row] = await db
        .insert(users)
        .values({ email: `contract-${crypto.randomUUID()}@example.com`, passwordHash: "unused" })
        .returning({ id: users.id });
      if (!row) throw new Error("no user row");
      return row.id;
    },
    newVideo: async (ownerId) => {
      const [row] = await db
        .insert(videos)
        .values({ ownerId, title: "contract", status: "ready", readyAt: new Date() })
        .returning({ id: videos.id });
      if (!row) throw new Error("no video row");
      return row.id;
    },
    close: end,
  };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const unknownId = () => crypto.randomUUID();

/** Every page of a listing, following cursors; fails if a page is over-full or the cursors never end. */
async function allPages(
  list: (page: PageRequest) => Promise<{ items: CommentRecord[]; next: PageRequest["cursor"] }>,
  limit: number,
): Promise<CommentRecord[][]> {
  const pages: CommentRecord[][] = [];
  let cursor: PageRequest["cursor"] = null;
  for (let round = 0; round < 50; round++) {
    const page = await list({ limit, cursor });
    expect(page.items.length).toBeLessThanOrEqual(limit);
    pages.push(page.items);
    if (page.next === null) return pages;
    cursor = page.next;
  }
  throw new Error("the cursors never ended");
}

/** Newest first: createdAt descending, ties broken by id descending. */
function expectNewestFirst(items: CommentRecord[]) {
  for (let i = 1; i < items.length; i++) {
    const [a, b] = [items[i - 1] as CommentRecord, items[i] as CommentRecord];
    const ordered =
      a.createdAt.getTime() > b.createdAt.getTime() ||
      (a.createdAt.getTime() === b.createdAt.getTime() && a.id > b.id);
    expect(ordered, `${a.id}@${a.createdAt.toISOString()} before ${b.id}@${b.createdAt.toISOString()}`).toBe(
      true,
    );
  }
}

/**
 * The behaviour every EngagementStore must have, as vitest tests. Call it inside a describe block (which
 * names the implementation and may skip it); `makeStore` is called before every test.
 */
export function runEngagementStoreContract(makeStore: () => Promise<StoreFixture>) {
  let f: StoreFixture;
  beforeEach(async () => {
    f = await makeStore();
  });
  afterEach(async () => {
    await f?.close();
  });

  it("keeps one reaction per user and video: set, switch, repeat and undo", async () => {
    const { store } = f;
    const [owner, ada, bob] = [await f.newUser(), await f.newUser(), await f.newUser()];
    const video = await f.newVideo(owner);
    expect(await store.mine(video, ada)).toBeNull();

    await store.setReaction(video, ada, "like");
    await store.setReaction(video, bob, "like");
    expect((await store.reactionCounts([video])).get(video)).toEqual({ likes: 2, dislikes: 0 });
    expect(await store.mine(video, ada)).toBe("like");

    await store.setReaction(video, ada, "dislike");
    await store.setReaction(video, ada, "dislike");
    expect((await store.reactionCounts([video])).get(video)).toEqual({ likes: 1, dislikes: 1 });
    expect(await store.mine(video, ada)).toBe("dislike");

    await store.clearReaction(video, ada);
    await store.clearReaction(video, ada);
    expect((await store.reactionCounts([video])).get(video)).toEqual({ likes: 1, dislikes: 0 });
    expect(await store.mine(video, ada)).toBeNull();
    expect(await store.mine(video, bob)).toBe("like");
  });

  it("reads a user's reaction per video: another video, another user and an unknown video read null", async () => {
    // What GET /v1/videos/:id shows a signed-in viewer as viewer.reaction.
    const { store } = f;
    const [owner, ada, bob] = [await f.newUser(), await f.newUser(), await f.newUser()];
    const [liked, disliked, untouched] = [
      await f.newVideo(owner),
      await f.newVideo(owner),
      await f.newVideo(owner),
    ];
    await store.setReaction(liked, ada, "like");
    await store.setReaction(disliked, ada, "dislike");
    expect(await store.mine(liked, ada)).toBe("like");
    expect(await store.mine(disliked, ada)).toBe("dislike");
    expect(await store.mine(untouched, ada)).toBeNull();
    expect(await store.mine(liked, bob)).toBeNull();
    expect(await store.mine(liked, owner)).toBeNull();
    expect(await store.mine(unknownId(), ada)).toBeNull();
    expect(await store.mine(liked, unknownId())).toBeNull();
  });

  it("keeps one reaction when the same user reacts concurrently", async () => {
    const { store } = f;
    const user = await f.newUser();
    const video = await f.newVideo(user);
    await Promise.all([
      store.setReaction(video, user, "like"),
      store.setReaction(video, user, "dislike"),
      store.setReaction(video, user, "like"),
    ]);
    const counts = (await store.reactionCounts([video])).get(video);
    expect((counts?.likes ?? 0) + (counts?.dislikes ?? 0)).toBe(1);
    expect(await store.mine(video, user)).not.toBeNull();
  });

  it("counts reactions per video, with an entry of zeros for every video without any", async () => {
    const { store } = f;
    const [owner, ada] = [await f.newUser(), await f.newUser()];
    const [first, second, quiet] = [
      await f.newVideo(owner),
      await f.newVideo(owner),
      await f.newVideo(owner),
    ];
    await store.setReaction(first, ada, "like");
    await store.setReaction(second, ada, "dislike");
    await store.setReaction(second, owner, "dislike");
    const missing = unknownId();
    const counts = await store.reactionCounts([first, second, quiet, missing]);
    expect(Object.fromEntries(counts)).toEqual({
      [first]: { likes: 1, dislikes: 0 },
      [second]: { likes: 0, dislikes: 2 },
      [quiet]: { likes: 0, dislikes: 0 },
      [missing]: { likes: 0, dislikes: 0 },
    });
    expect((await store.reactionCounts([])).size).toBe(0);
  });

  it("adds views in batches: entries for one video add up, batches accumulate", async () => {
    const { store } = f;
    const owner = await f.newUser();
    const [first, second, quiet] = [
      await f.newVideo(owner),
      await f.newVideo(owner),
      await f.newVideo(owner),
    ];
    await store.addViews([
      { videoId: first, count: 3 },
      { videoId: second, count: 1 },
      { videoId: first, count: 2 },
    ]);
    await store.addViews([{ videoId: first, count: 10 }]);
    await store.addViews([]);
    await store.addViews([{ videoId: second, count: 0 }]);
    expect(Object.fromEntries(await store.viewCount([first, second, quiet]))).toEqual({
      [first]: 15,
      [second]: 1,
      [quiet]: 0,
    });
    await expect(store.addViews([{ videoId: first, count: -1 }])).rejects.toThrow(RangeError);
    expect((await store.viewCount([first])).get(first)).toBe(15);
  });

  it("creates a comment and a reply, and reads them back exactly", async () => {
    const { store } = f;
    const [owner, ada] = [await f.newUser(), await f.newUser()];
    const video = await f.newVideo(owner);
    const body = "Ünïcödé ✓ — «quotes» 🎬\nsecond line";
    const top = await store.createComment({ videoId: video, authorId: ada, body, parentId: null });
    if (!top.ok) throw new Error(`not created: ${top.reason}`);
    expect(top.comment).toMatchObject({ videoId: video, authorId: ada, parentId: null, body, replyCount: 0 });
    expect(top.comment.createdAt).toBeInstanceOf(Date);
    expect(Math.abs(top.comment.createdAt.getTime() - Date.now())).toBeLessThan(60_000);

    const reply = await store.createComment({
      videoId: video,
      authorId: owner,
      body: "thanks",
      parentId: top.comment.id,
    });
    if (!reply.ok) throw new Error(`not created: ${reply.reason}`);
    expect(reply.comment.parentId).toBe(top.comment.id);
    expect(await store.getComment(reply.comment.id)).toEqual(reply.comment);
    expect(await store.getComment(top.comment.id)).toEqual(top.comment);
    expect(await store.getComment(unknownId())).toBeNull();
  });

  it("refuses a reply to a reply, and a parent that is missing or on another video", async () => {
    const { store } = f;
    const owner = await f.newUser();
    const [video, other] = [await f.newVideo(owner), await f.newVideo(owner)];
    const top = await store.createComment({ videoId: video, authorId: owner, body: "top", parentId: null });
    if (!top.ok) throw new Error("not created");
    const reply = await store.createComment({
      videoId: video,
      authorId: owner,
      body: "reply",
      parentId: top.comment.id,
    });
    if (!reply.ok) throw new Error("not created");

    const attempt = (videoId: string, parentId: string) =>
      store.createComment({ videoId, authorId: owner, body: "nope", parentId });
    expect(await attempt(video, reply.comment.id)).toEqual({ ok: false, reason: "reply_depth" });
    expect(await attempt(other, top.comment.id)).toEqual({ ok: false, reason: "parent_not_found" });
    expect(await attempt(video, unknownId())).toEqual({ ok: false, reason: "parent_not_found" });
    // Nothing was stored by the refusals.
    expect(Object.fromEntries(await store.commentCount([video, other]))).toEqual({ [video]: 2, [other]: 0 });
  });

  it("lists a video's top-level comments newest first with reply counts, in pages that neither skip nor repeat", async () => {
    const { store } = f;
    const owner = await f.newUser();
    const [video, other] = [await f.newVideo(owner), await f.newVideo(owner)];
    const created: CommentRecord[] = [];
    for (let i = 0; i < 5; i++) {
      const result = await store.createComment({
        videoId: video,
        authorId: owner,
        body: `comment ${i}`,
        parentId: null,
      });
      if (!result.ok) throw new Error("not created");
      created.push(result.comment);
      await pause(3); // distinct timestamps, so "newest first" is the reverse of creation
    }
    await store.createComment({ videoId: other, authorId: owner, body: "elsewhere", parentId: null });
    const parent = created[1] as CommentRecord;
    for (const body of ["r1", "r2"]) {
      await store.createComment({ videoId: video, authorId: owner, body, parentId: parent.id });
    }

    const pages = await allPages((page) => store.listComments(video, page), 2);
    expect(pages.map((page) => page.length)).toEqual([2, 2, 1]);
    const listed = pages.flat();
    expect(listed.map((c) => c.body)).toEqual([
      "comment 4",
      "comment 3",
      "comment 2",
      "comment 1",
      "comment 0",
    ]);
    expect(listed.map((c) => c.replyCount)).toEqual([0, 0, 0, 2, 0]);
    expectNewestFirst(listed);

    // One page holding everything has no cursor; an empty video has nothing and no cursor.
    const whole = await store.listComments(video, { limit: 5, cursor: null });
    expect(whole.items.map((c) => c.id)).toEqual(listed.map((c) => c.id));
    expect(whole.next).toBeNull();
    expect(await store.listComments(await f.newVideo(owner), { limit: 10, cursor: null })).toEqual({
      items: [],
      next: null,
    });
  });

  it("pages consistently through comments created in a burst (timestamp ties broken by id)", async () => {
    const { store } = f;
    const owner = await f.newUser();
    const video = await f.newVideo(owner);
    const ids = new Set<string>();
    await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const result = await store.createComment({
          videoId: video,
          authorId: owner,
          body: `burst ${i}`,
          parentId: null,
        });
        if (result.ok) ids.add(result.comment.id);
      }),
    );
    expect(ids.size).toBe(12);
    for (const limit of [1, 5, 12]) {
      const listed = (await allPages((page) => store.listComments(video, page), limit)).flat();
      expect(new Set(listed.map((c) => c.id))).toEqual(ids);
      expect(listed).toHaveLength(12);
      expectNewestFirst(listed);
    }
  });

  it("lists a comment's replies newest first, in pages", async () => {
    const { store } = f;
    const owner = await f.newUser();
    const video = await f.newVideo(owner);
    const top = await store.createComment({ videoId: video, authorId: owner, body: "top", parentId: null });
    if (!top.ok) throw new Error("not created");
    for (let i = 0; i < 3; i++) {
      await store.createComment({
        videoId: video,
        authorId: owner,
        body: `reply ${i}`,
        parentId: top.comment.id,
      });
      await pause(3);
    }
    const pages = await allPages((page) => store.listReplies(top.comment.id, page), 2);
    expect(pages.map((page) => page.map((c) => c.body))).toEqual([["reply 2", "reply 1"], ["reply 0"]]);
    for (const reply of pages.flat())
      expect(reply).toMatchObject({ parentId: top.comment.id, replyCount: 0 });
    expect(await store.listReplies(unknownId(), { limit: 5, cursor: null })).toEqual({
      items: [],
      next: null,
    });
  });

  it("deletes a comment together with its replies, and only that thread", async () => {
    const { store } = f;
    const owner = await f.newUser();
    const video = await f.newVideo(owner);
    const make = async (body: string, parentId: string | null) => {
      const result = await store.createComment({ videoId: video, authorId: owner, body, parentId });
      if (!result.ok) throw new Error("not created");
      return result.comment;
    };
    const doomed = await make("doomed", null);
    const replies = [await make("a", doomed.id), await make("b", doomed.id)];
    const kept = await make("kept", null);
    const keptReply = await make("kept reply", kept.id);
    expect((await store.commentCount([video])).get(video)).toBe(5);

    // A reply alone goes without its parent.
    expect(await store.deleteComment(keptReply.id)).toBe(true);
    expect(await store.getComment(kept.id)).not.toBeNull();

    expect(await store.deleteComment(doomed.id)).toBe(true);
    for (const gone of [doomed, ...replies, keptReply]) expect(await store.getComment(gone.id)).toBeNull();
    expect(await store.deleteComment(doomed.id)).toBe(false);
    expect(await store.deleteComment(unknownId())).toBe(false);
    expect((await store.commentCount([video])).get(video)).toBe(1);
    expect((await store.listComments(video, { limit: 10, cursor: null })).items.map((c) => c.id)).toEqual([
      kept.id,
    ]);
  });

  it("counts every comment of each video, replies included, zero where none", async () => {
    const { store } = f;
    const owner = await f.newUser();
    const [video, quiet] = [await f.newVideo(owner), await f.newVideo(owner)];
    const top = await store.createComment({ videoId: video, authorId: owner, body: "top", parentId: null });
    if (!top.ok) throw new Error("not created");
    await store.createComment({ videoId: video, authorId: owner, body: "reply", parentId: top.comment.id });
    await store.createComment({ videoId: video, authorId: owner, body: "another", parentId: null });
    expect(Object.fromEntries(await store.commentCount([video, quiet]))).toEqual({ [video]: 3, [quiet]: 0 });
    expect((await store.commentCount([])).size).toBe(0);
  });

  it("deletes everything of one video (reactions, views, comments and replies) and nothing of another", async () => {
    const { store } = f;
    const owner = await f.newUser();
    const fan = await f.newUser();
    const [doomed, kept] = [await f.newVideo(owner), await f.newVideo(owner)];
    for (const video of [doomed, kept]) {
      await store.setReaction(video, fan, "like");
      await store.setReaction(video, owner, "dislike");
      await store.addViews([{ videoId: video, count: 7 }]);
      const top = await store.createComment({ videoId: video, authorId: fan, body: "top", parentId: null });
      if (!top.ok) throw new Error("not created");
      await store.createComment({ videoId: video, authorId: owner, body: "re", parentId: top.comment.id });
    }
    const doomedComments = (await store.listComments(doomed, { limit: 10, cursor: null })).items;

    await store.deleteVideo(doomed);

    expect(Object.fromEntries(await store.reactionCounts([doomed, kept]))).toEqual({
      [doomed]: { likes: 0, dislikes: 0 },
      [kept]: { likes: 1, dislikes: 1 },
    });
    expect(await store.mine(doomed, fan)).toBeNull();
    expect(Object.fromEntries(await store.viewCount([doomed, kept]))).toEqual({ [doomed]: 0, [kept]: 7 });
    expect(Object.fromEntries(await store.commentCount([doomed, kept]))).toEqual({ [doomed]: 0, [kept]: 2 });
    for (const comment of doomedComments) expect(await store.getComment(comment.id)).toBeNull();
    expect((await store.listComments(doomed, { limit: 10, cursor: null })).items).toEqual([]);
    // Idempotent: deleting again (a retried DELETE) is fine.
    await store.deleteVideo(doomed);
  });
}
