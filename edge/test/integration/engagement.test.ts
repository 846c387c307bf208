import {
  Comment,
  CommentList,
  ErrorEnvelope,
  ReactionSummary,
  Video,
  VideoList,
  ViewReceipt,
} from "@streamlet/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { videos } from "../../src/db/schema.ts";
import { call as callEdge, openDb, user as userOf } from "./helpers.ts";

// Likes, comments and views through the real stack: the Worker and its ViewCounter objects under
// wrangler dev, Postgres through the Neon driver and bridge.
const { db, end } = openDb();

/** A request as one browser (user agent) makes it: views are counted per viewer. */
async function call(
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; ua?: string } = {},
) {
  const headers = { "user-agent": opts.ua ?? "streamlet-tests" };
  const res = await callEdge(method, path, { token: opts.token, body: opts.body, headers });
  return { status: res.status, json: res.json };
}

const user = () => userOf(db, "engagement");

let owner: Awaited<ReturnType<typeof user>>;
let fan: Awaited<ReturnType<typeof user>>;
let videoId = "";

beforeAll(async () => {
  owner = await user();
  fan = await user();
  const [row] = await db
    .insert(videos)
    .values({ ownerId: owner.id, title: "engagement", status: "ready", readyAt: new Date() })
    .returning({ id: videos.id });
  if (!row) throw new Error("no video row");
  videoId = row.id;
});
afterAll(() => end());

describe("engagement through the stack", () => {
  it("likes, comments and batched views show up in the video's stats", async () => {
    const liked = await call("PUT", `/v1/videos/${videoId}/reaction`, {
      token: fan.token,
      body: { value: "like" },
    });
    expect(liked.status).toBe(200);
    expect(ReactionSummary.parse(liked.json)).toEqual({ likes: 1, dislikes: 0, mine: "like" });

    const top = await call("POST", `/v1/videos/${videoId}/comments`, {
      token: fan.token,
      body: { body: " first! " },
    });
    expect(top.status).toBe(201);
    const comment = Comment.parse(top.json);
    expect(comment.body).toBe("first!");
    const reply = await call("POST", `/v1/videos/${videoId}/comments`, {
      token: owner.token,
      body: { body: "thanks", parentId: comment.id },
    });
    expect(reply.status).toBe(201);
    const deeper = await call("POST", `/v1/videos/${videoId}/comments`, {
      token: fan.token,
      body: { body: "nested", parentId: Comment.parse(reply.json).id },
    });
    expect(deeper.status).toBe(400);
    expect(ErrorEnvelope.parse(deeper.json).error.code).toBe("reply_depth");
    const listed = CommentList.parse((await call("GET", `/v1/videos/${videoId}/comments`)).json);
    expect(listed.comments.map((c) => [c.id, c.replyCount])).toEqual([[comment.id, 1]]);

    const view = (opts: { token?: string; ua?: string }) =>
      call("POST", `/v1/videos/${videoId}/views`, opts).then((res) => {
        expect(res.status).toBe(202);
        return ViewReceipt.parse(res.json).counted;
      });
    expect(await view({ ua: "browser-a" })).toBe(true);
    expect(await view({ ua: "browser-a" })).toBe(false);
    expect(await view({ token: fan.token })).toBe(true);
    expect(await view({ token: fan.token, ua: "another device" })).toBe(false);

    // The ViewCounter's alarm writes the two counted views within about 10 s, in one batch.
    const deadline = Date.now() + 30_000;
    let stats = Video.parse((await call("GET", `/v1/videos/${videoId}`)).json).stats;
    while (stats?.views !== 2 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      stats = Video.parse((await call("GET", `/v1/videos/${videoId}`)).json).stats;
    }
    expect(stats).toEqual({ views: 2, likes: 1, dislikes: 0, comments: 2 });

    const list = VideoList.parse((await call("GET", "/v1/videos?limit=100")).json);
    expect(list.videos.find((v) => v.id === videoId)?.stats).toEqual(stats);
  });

  it("deletes a comment only for its author or the video's owner, others get 404", async () => {
    const created = await call("POST", `/v1/videos/${videoId}/comments`, {
      token: fan.token,
      body: { body: "hm" },
    });
    const { id } = Comment.parse(created.json);
    const stranger = await user();
    const refused = await call("DELETE", `/v1/comments/${id}`, { token: stranger.token });
    expect(refused.status).toBe(404);
    expect(ErrorEnvelope.parse(refused.json).error.code).toBe("not_found");
    const removed = await call("DELETE", `/v1/comments/${id}`, { token: owner.token });
    expect(removed.status).toBe(204);
    expect((await call("DELETE", `/v1/comments/${id}`, { token: fan.token })).status).toBe(404);
  });

  it("describes the new routes in /openapi.json", async () => {
    const doc = (await call("GET", "/openapi.json")).json as {
      paths: Record<string, Record<string, unknown>>;
    };
    expect(Object.keys(doc.paths["/v1/videos/{id}/reaction"] ?? {}).sort()).toEqual(["delete", "put"]);
    expect(Object.keys(doc.paths["/v1/videos/{id}/views"] ?? {})).toEqual(["post"]);
    expect(Object.keys(doc.paths["/v1/videos/{id}/comments"] ?? {}).sort()).toEqual(["get", "post"]);
    expect(Object.keys(doc.paths["/v1/comments/{id}/replies"] ?? {})).toEqual(["get"]);
    expect(Object.keys(doc.paths["/v1/comments/{id}"] ?? {})).toEqual(["delete"]);
  });
});
