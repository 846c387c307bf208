import { describe, expect, it } from "vitest";
import { rendition720p } from "../../shared/test/fixtures/renditions.ts";
import type { VideoRow } from "../src/db/schema.ts";
import { fallbackEvent } from "../src/progress/fallback.ts";
import { type Handoff, handoffRequest, parseHandoff } from "../src/progress/handoff.ts";
import { bearerFromProtocols, offeredProtocols } from "../src/progress/protocols.ts";

const row = (changes: Partial<VideoRow>): VideoRow => ({
  id: "0b5e7d3c-8f5a-4b7e-9c1d-2e3f4a5b6c7d",
  ownerId: "1c6f8e4d-9a6b-4c8f-8d2e-3f4a5b6c7d8e",
  title: "t",
  description: null,
  visibility: "public",
  status: "awaiting_upload",
  failureReason: null,
  durationSeconds: null,
  sourceWidth: null,
  sourceHeight: null,
  sourceBytes: 10,
  uploadBytes: 10,
  sourceContentType: null,
  sourceFileName: null,
  uploadId: null,
  uploadPartBytes: null,
  sourceUrl: null,
  transcodeRun: 1,
  renditions: [],
  assets: null,
  downloadsEnabled: true,
  cacheGeneration: 1,
  createdAt: new Date(1_000),
  updatedAt: new Date(2_000),
  readyAt: null,
  playableAt: null,
  ...changes,
});

describe("subprotocols", () => {
  it("splits the offer and finds the bearer token, never taking an empty one", () => {
    expect(offeredProtocols(" streamlet.progress.v1 ,bearer.a.b.c,, ")).toEqual([
      "streamlet.progress.v1",
      "bearer.a.b.c",
    ]);
    expect(offeredProtocols(undefined)).toEqual([]);
    expect(bearerFromProtocols(["streamlet.progress.v1", "bearer.a.b.c"])).toBe("a.b.c");
    expect(bearerFromProtocols(["streamlet.progress.v1", "bearer."])).toBeNull();
    expect(bearerFromProtocols(["streamlet.progress.v1"])).toBeNull();
  });
});

describe("handoff", () => {
  it("round-trips through internal headers and carries nothing else", () => {
    const handoff: Handoff = {
      role: "subscriber",
      videoId: "v1",
      since: 1_000_003,
      fallback: { type: "failed", seq: 0, at: 5, reason: "no video stream ✗" },
    };
    const request = handoffRequest(handoff);
    expect(parseHandoff(request)).toEqual(handoff);
    expect(request.headers.get("upgrade")).toBe("websocket");
    expect([...request.headers.keys()].sort()).toEqual([
      "upgrade",
      "x-progress-fallback",
      "x-progress-role",
      "x-progress-since",
      "x-progress-video-id",
    ]);
    const publisher: Handoff = { role: "publisher", videoId: "v1", since: null, fallback: null };
    expect(parseHandoff(handoffRequest(publisher))).toEqual(publisher);
  });

  it.each([
    ["no role", { "x-progress-video-id": "v1" }],
    ["an unknown role", { "x-progress-role": "admin", "x-progress-video-id": "v1" }],
    ["no video", { "x-progress-role": "subscriber" }],
    [
      "a negative since",
      { "x-progress-role": "subscriber", "x-progress-video-id": "v1", "x-progress-since": "-1" },
    ],
    [
      "a garbage fallback",
      { "x-progress-role": "subscriber", "x-progress-video-id": "v1", "x-progress-fallback": "!" },
    ],
  ])("refuses %s", (_, headers) => {
    expect(parseHandoff(new Request("https://do/connect", { headers }))).toBeNull();
  });
});

describe("fallbackEvent", () => {
  it("builds queued, ready and failed from the row, and nothing for the others", () => {
    expect(fallbackEvent(row({ status: "queued" }))).toEqual({ type: "queued", seq: 0, at: 2_000 });
    const ready = row({
      status: "ready",
      durationSeconds: 8,
      sourceWidth: 1280,
      sourceHeight: 720,
      renditions: [rendition720p],
      readyAt: new Date(3_000),
    });
    expect(fallbackEvent(ready)).toEqual({
      type: "ready",
      seq: 0,
      at: 3_000,
      durationSeconds: 8,
      sourceWidth: 1280,
      sourceHeight: 720,
      renditions: [rendition720p],
    });
    // The delivery assets ride along when the row has them, as in the transcoder's own ready event.
    const assets = {
      storyboard: { intervalSeconds: 1, thumbnails: 8, sprites: 1, width: 160, height: 90 },
      dash: true,
      download: { rendition: "720p", bytes: 1_234_567 },
    };
    expect(fallbackEvent({ ...ready, assets })).toMatchObject({ type: "ready", assets });
    expect(fallbackEvent(row({ status: "failed", failureReason: "not a video" }))).toEqual({
      type: "failed",
      seq: 0,
      at: 2_000,
      reason: "not a video",
    });
    expect(fallbackEvent(row({ status: "failed" }))).toMatchObject({ reason: "transcoding failed" });
    expect(fallbackEvent(row({ status: "awaiting_upload" }))).toBeNull();
    expect(fallbackEvent(row({ status: "processing" }))).toBeNull();
    // A ready row the event schema cannot describe gives no snapshot rather than a wrong one.
    expect(fallbackEvent(row({ status: "ready", renditions: [] }))).toBeNull();
  });
});
