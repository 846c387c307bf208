import { describe, expect, it } from "vitest";
import {
  EVENTS_ROUTE,
  eventsPath,
  isTerminal,
  MAX_MESSAGE_BYTES,
  PUBLISHER_ROUTE,
  parseClientMessage,
  parseProgressEvent,
  parseServerMessage,
  publisherPath,
  SEQ_EPOCH,
  Video,
} from "../src/index.ts";
import { rendition360p } from "./fixtures/renditions.ts";

const transcoding = {
  type: "transcoding",
  seq: SEQ_EPOCH + 5,
  at: 1,
  percent: 40,
  rungs: [{ name: "720p", height: 720, percent: 40 }],
  fps: 61.5,
  speed: 2.05,
  etaSeconds: 12,
};

describe("progress messages", () => {
  it("parses each client message and returns null for anything else", () => {
    expect(parseClientMessage(JSON.stringify({ type: "publish", event: transcoding }))).toEqual({
      type: "publish",
      event: transcoding,
    });
    expect(parseClientMessage('{"type":"ping"}')).toEqual({ type: "ping" });
    for (const bad of [
      "",
      "{",
      "null",
      "[]",
      '{"type":"subscribe"}',
      JSON.stringify({ type: "publish", event: { ...transcoding, percent: 101 } }),
      JSON.stringify({ type: "publish", event: { ...transcoding, seq: -1 } }),
      JSON.stringify({ type: "publish", event: { ...transcoding, extra: true } }),
      JSON.stringify({ type: "publish", event: { type: "failed", seq: 1, at: 1, reason: "" } }),
      JSON.stringify({ type: "ping", padding: "x".repeat(MAX_MESSAGE_BYTES) }),
      new ArrayBuffer(8),
      42,
    ]) {
      expect(parseClientMessage(bad)).toBeNull();
    }
  });

  it("parses server messages and refuses unknown ones", () => {
    expect(parseServerMessage('{"type":"ack","seq":3}')).toEqual({ type: "ack", seq: 3 });
    expect(parseServerMessage('{"type":"snapshot","event":null}')).toEqual({ type: "snapshot", event: null });
    expect(parseServerMessage('{"type":"event","event":{"type":"queued","seq":0,"at":0}}')).not.toBeNull();
    expect(parseServerMessage('{"type":"hello"}')).toBeNull();
    expect(parseServerMessage("not json")).toBeNull();
    // Under the limit in UTF-16 units but over it in UTF-8 bytes.
    const wide = (n: number) => JSON.stringify({ type: "error", code: "x", message: "é".repeat(n) });
    expect(parseServerMessage(wide(100))).not.toBeNull();
    expect(parseServerMessage(wide(MAX_MESSAGE_BYTES / 2 + 1))).toBeNull();
  });

  it("knows which events are terminal", () => {
    const ready = parseProgressEvent({
      type: "ready",
      seq: 9,
      at: 2,
      durationSeconds: 3,
      sourceWidth: 640,
      sourceHeight: 360,
      renditions: [rendition360p],
    });
    expect(ready && isTerminal(ready)).toBe(true);
    const failed = parseProgressEvent({ type: "failed", seq: 9, at: 2, reason: "bad" });
    expect(failed && isTerminal(failed)).toBe(true);
    const t = parseProgressEvent(transcoding);
    expect(t && isTerminal(t)).toBe(false);
  });
});

describe("watchable while processing", () => {
  const playable = { type: "playable", seq: SEQ_EPOCH + 7, at: 3, segmentsPublished: 9, segmentsTotal: 60 };

  it("parses a playable event, which is not terminal, and refuses malformed ones", () => {
    const event = parseProgressEvent(playable);
    expect(event).toEqual(playable);
    expect(event && isTerminal(event)).toBe(false);
    expect(parseClientMessage(JSON.stringify({ type: "publish", event: playable }))).toEqual({
      type: "publish",
      event: playable,
    });
    for (const bad of [
      { ...playable, segmentsPublished: 61 },
      { ...playable, segmentsPublished: -1 },
      { ...playable, segmentsTotal: 1.5 },
      { ...playable, extra: true },
      { type: "playable", seq: 1, at: 1 },
    ]) {
      expect(parseProgressEvent(bad), JSON.stringify(bad)).toBeNull();
    }
  });

  it("has the video say since when it can be watched", () => {
    const video = {
      id: "v",
      title: "t",
      description: null,
      status: "processing",
      failureReason: null,
      durationSeconds: null,
      sourceWidth: null,
      sourceHeight: null,
      renditions: [],
      playback: {
        hls: "https://edge.example/v1/play/v/master.m3u8",
        poster: null,
        dash: null,
        storyboard: null,
      },
      createdAt: "2026-01-01T00:00:00.000Z",
      readyAt: null,
      playableAt: "2026-01-01T00:00:09.000Z",
      channel: null,
      captions: [],
      downloadable: false,
      downloadsEnabled: true,
    };
    expect(Video.parse(video).playableAt).toBe(video.playableAt);
    expect(Video.safeParse({ ...video, playableAt: null }).success).toBe(true);
    const { playableAt: _, ...withoutIt } = video;
    expect(Video.safeParse(withoutIt).success).toBe(false);
  });

  it("accepts transcoding events with and without per-chunk progress", () => {
    expect(parseProgressEvent(transcoding)).toEqual(transcoding); // what today's transcoder sends
    const chunked = { ...transcoding, chunksDone: 3, chunksTotal: 12 };
    expect(parseProgressEvent(chunked)).toEqual(chunked);
    expect(parseProgressEvent({ ...transcoding, chunksDone: 0, chunksTotal: 12 })).not.toBeNull();
    expect(parseProgressEvent({ ...transcoding, chunksDone: -1, chunksTotal: 12 })).toBeNull();
    expect(parseProgressEvent({ ...transcoding, chunksDone: 1, chunksTotal: 0 })).toBeNull();
    expect(parseProgressEvent({ ...transcoding, chunksDone: 1.5 })).toBeNull();
  });
});

describe("progress socket paths", () => {
  it("fill the edge's routes with the (encoded) video id", () => {
    const id = "0b5e7d3c-8f5a-4b7e-9c1d-2e3f4a5b6c7d";
    expect(eventsPath(id)).toBe(EVENTS_ROUTE.replace("{id}", id));
    expect(publisherPath(id)).toBe(PUBLISHER_ROUTE.replace("{id}", id));
    expect(eventsPath("a b")).toBe(EVENTS_ROUTE.replace("{id}", "a%20b"));
  });
});
