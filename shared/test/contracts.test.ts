import { describe, expect, it } from "vitest";
import {
  CreateVideoBody,
  DEFAULT_LADDER,
  KEYFRAME_SECONDS,
  LoginBody,
  parseStatusReport,
  SEGMENT_SECONDS,
  SignupBody,
  TranscodeJob,
  videoKeys,
} from "../src/index.ts";

const rendition = {
  name: "720p",
  width: 1280,
  height: 720,
  bandwidth: 3_500_000,
  averageBandwidth: 3_000_000,
  codecs: "avc1.64001f,mp4a.40.2",
  frameRate: 30,
};

describe("API bodies", () => {
  it("normalises emails and enforces password length", () => {
    expect(SignupBody.parse({ email: "  Ada@Example.COM ", password: "0123456789" }).email).toBe(
      "ada@example.com",
    );
    expect(SignupBody.safeParse({ email: "ada@example.com", password: "short" }).success).toBe(false);
    expect(SignupBody.safeParse({ email: "not-an-email", password: "0123456789" }).success).toBe(false);
    expect(SignupBody.safeParse({ email: "a@b.co", password: "0123456789", role: "admin" }).success).toBe(
      false,
    );
    expect(LoginBody.safeParse({ email: "a@b.co", password: "" }).success).toBe(false);
  });

  it("requires a non-blank title of bounded length", () => {
    expect(CreateVideoBody.parse({ title: "  Hi  " }).title).toBe("Hi");
    for (const body of [
      {},
      { title: "   " },
      { title: "x".repeat(201) },
      { title: "ok", description: 3 },
      null,
    ]) {
      expect(CreateVideoBody.safeParse(body).success).toBe(false);
    }
  });
});

describe("transcode job", () => {
  it("derives storage keys from the video id only", () => {
    expect(videoKeys("abc")).toEqual({ source: "sources/abc", outputPrefix: "videos/abc/" });
    expect(videoKeys("abc")).toEqual(videoKeys("abc"));
  });

  it("accepts the payload the edge sends and rejects malformed ones", () => {
    const keys = videoKeys("v1");
    const job = { videoId: "v1", input: { key: keys.source }, output: { prefix: keys.outputPrefix } };
    expect(TranscodeJob.parse(job)).toEqual(job);
    expect(TranscodeJob.safeParse({ ...job, output: { prefix: "no-slash" } }).success).toBe(false);
    expect(TranscodeJob.safeParse({ videoId: "v1" }).success).toBe(false);
    expect(TranscodeJob.safeParse("v1").success).toBe(false);
  });
});

describe("status reports", () => {
  it("parses each kind and returns null for anything else", () => {
    expect(parseStatusReport({ status: "processing" })).toEqual({ status: "processing" });
    expect(parseStatusReport({ status: "failed", reason: "bad" })).toEqual({
      status: "failed",
      reason: "bad",
    });
    const ready = {
      status: "ready",
      durationSeconds: 20,
      sourceWidth: 1920,
      sourceHeight: 1080,
      renditions: [rendition],
    };
    expect(parseStatusReport(ready)).toEqual(ready);
    for (const bad of [
      null,
      "ready",
      {},
      { status: "done" },
      { status: "failed" },
      { status: "failed", reason: "" },
      { ...ready, renditions: [] },
      { ...ready, renditions: [{ ...rendition, name: "../x" }] },
      { status: "processing", extra: 1 },
    ]) {
      expect(parseStatusReport(bad)).toBeNull();
    }
  });
});

describe("ladder defaults", () => {
  it("is 1080/720/480, tallest first, with keyframes dividing the segment length", () => {
    expect(DEFAULT_LADDER.map((r) => r.height)).toEqual([1080, 720, 480]);
    for (const r of DEFAULT_LADDER) expect(r.maxBitrate).toBeGreaterThan(r.videoBitrate);
    expect(SEGMENT_SECONDS % KEYFRAME_SECONDS).toBe(0);
  });
});
