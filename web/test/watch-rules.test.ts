import { describe, expect, it } from "vitest";
import { appendPage, authorHref, authorLabel, canDelete, nextReaction } from "../src/watch/comment-rules.ts";
import { playbackState, storyboardOf } from "../src/watch/playback-state.ts";
import type { WatchComment, WatchVideo } from "../src/watch/types.ts";

const comment = (over: Partial<WatchComment> = {}): WatchComment => ({
  id: "c1",
  videoId: "v1",
  parentId: null,
  authorId: "u-author",
  author: { id: "u-author", channel: { handle: "ada", name: "Ada's clips" } },
  body: "nice",
  createdAt: "2026-01-01T00:00:00Z",
  replyCount: 0,
  ...over,
});

describe("comment authors and permissions", () => {
  it("names the author: you, their channel, else a neutral fallback", () => {
    const signedOut = { userId: null, isOwner: false };
    expect(authorLabel(comment(), { userId: "u-author", isOwner: false })).toBe("You");
    expect(authorLabel(comment(), signedOut)).toBe("Ada's clips");
    expect(authorLabel(comment({ author: { id: "u-author", channel: null } }), signedOut)).toBe("A viewer");
    expect(authorHref(comment())).toBe("/c/ada");
    expect(authorHref(comment({ author: { id: "u-author", channel: null } }))).toBeNull();
  });

  it("lets the author and the video's owner delete, nobody else", () => {
    expect(canDelete(comment(), { userId: "u-author", isOwner: false })).toBe(true);
    expect(canDelete(comment(), { userId: "u-owner", isOwner: true })).toBe(true);
    expect(canDelete(comment(), { userId: "u-other", isOwner: false })).toBe(false);
    expect(canDelete(comment(), { userId: null, isOwner: false })).toBe(false);
  });

  it("appends a page without repeating comments already shown", () => {
    const shown = [comment({ id: "a" }), comment({ id: "b" })];
    expect(appendPage(shown, [comment({ id: "b" }), comment({ id: "c" })]).map((c) => c.id)).toEqual([
      "a",
      "b",
      "c",
    ]);
  });

  it("toggles a reaction: the same one undoes it, the other replaces it", () => {
    expect(nextReaction(null, "like")).toBe("like");
    expect(nextReaction("like", "like")).toBeNull();
    expect(nextReaction("like", "dislike")).toBe("dislike");
  });
});

describe("playback state", () => {
  const video = (over: Partial<WatchVideo>): Pick<WatchVideo, "status" | "playback" | "failureReason"> => ({
    status: "ready",
    failureReason: null,
    playback: { hls: null, poster: null },
    ...over,
  });

  it("plays whatever has an HLS URL, saying when it is still processing", () => {
    expect(playbackState(video({ playback: { hls: "/m.m3u8", poster: null } }))).toEqual({
      kind: "playable",
      src: "/m.m3u8",
      stillProcessing: false,
    });
    expect(
      playbackState(video({ status: "processing", playback: { hls: "/m.m3u8", poster: null } })),
    ).toMatchObject({ kind: "playable", stillProcessing: true });
  });

  it("says why a video cannot be played yet", () => {
    expect(playbackState(video({ status: "queued" }))).toMatchObject({ kind: "waiting" });
    expect(playbackState(video({ status: "awaiting_upload" })).kind).toBe("waiting");
    expect(playbackState(video({ status: "failed", failureReason: "no video stream" }))).toEqual({
      kind: "failed",
      message: "Processing failed: no video stream.",
    });
  });

  it("finds the storyboard track only when the edge sends one", () => {
    expect(storyboardOf({ playback: { hls: "/m", poster: null } })).toBeNull();
    expect(storyboardOf({ playback: { hls: "/m", poster: null, storyboard: "/s.vtt" } })).toBe("/s.vtt");
    expect(storyboardOf({ playback: { hls: "/m", poster: null, storyboard: null } })).toBeNull();
  });
});
