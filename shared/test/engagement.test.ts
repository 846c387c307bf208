import { describe, expect, it } from "vitest";
import { CommentBody, ListCommentsQuery, ReactionBody, Video, VideoStats } from "../src/index.ts";

describe("engagement contracts", () => {
  it("accepts like or dislike only, and nothing else in the body", () => {
    expect(ReactionBody.parse({ value: "like" })).toEqual({ value: "like" });
    expect(ReactionBody.parse({ value: "dislike" })).toEqual({ value: "dislike" });
    for (const body of [{}, { value: "LIKE" }, { value: "love" }, { value: "like", mine: true }, null]) {
      expect(ReactionBody.safeParse(body).success).toBe(false);
    }
  });

  it("trims comment bodies and bounds them to 1-2000 characters without control characters", () => {
    expect(CommentBody.parse({ body: "  hi \n" })).toEqual({ body: "hi" });
    expect(CommentBody.parse({ body: "one\r\n\ttwo" })).toEqual({ body: "one\r\n\ttwo" });
    expect(CommentBody.parse({ body: ` ${"x".repeat(2000)} ` }).body).toHaveLength(2000);
    expect(CommentBody.parse({ body: "re", parentId: "abc" })).toEqual({ body: "re", parentId: "abc" });
    for (const body of [
      { body: "" },
      { body: " \n\t " },
      { body: "x".repeat(2001) },
      { body: "a\u0000b" },
      { body: "a\u0007b" },
      { body: 1 },
      { body: "ok", parentId: 5 },
      { body: "ok", parentId: "x".repeat(65) },
      { body: "ok", videoId: "x" },
      {},
    ]) {
      expect(CommentBody.safeParse(body).success, JSON.stringify(body)).toBe(false);
    }
  });

  it("pages comments 1-100 at a time, 20 by default", () => {
    expect(ListCommentsQuery.parse({})).toEqual({ limit: 20 });
    expect(ListCommentsQuery.parse({ limit: "100", cursor: "abc" })).toEqual({ limit: 100, cursor: "abc" });
    for (const query of [
      { limit: "0" },
      { limit: "101" },
      { limit: "1.5" },
      { limit: "x" },
      { cursor: "c".repeat(201) },
    ]) {
      expect(ListCommentsQuery.safeParse(query).success).toBe(false);
    }
  });

  it("keeps stats optional on the video and non-negative integers when present", () => {
    const video = {
      id: "v",
      title: "t",
      description: null,
      status: "ready",
      failureReason: null,
      durationSeconds: 1,
      sourceWidth: 2,
      sourceHeight: 2,
      renditions: [],
      playback: { hls: null, poster: null, dash: null, storyboard: null },
      createdAt: "2026-01-01T00:00:00.000Z",
      readyAt: null,
      playableAt: null,
      channel: null,
      captions: [],
      downloadable: false,
      downloadsEnabled: true,
    };
    expect(Video.safeParse(video).success).toBe(true);
    const stats = { views: 3, likes: 2, dislikes: 1, comments: 0 };
    expect(Video.parse({ ...video, stats }).stats).toEqual(stats);
    expect(VideoStats.safeParse({ ...stats, views: -1 }).success).toBe(false);
    expect(VideoStats.safeParse({ ...stats, likes: 1.5 }).success).toBe(false);
  });
});
