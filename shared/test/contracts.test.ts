import { describe, expect, it } from "vitest";
import {
  CreateVideoBody,
  DEFAULT_LADDER,
  KEYFRAME_SECONDS,
  LoginBody,
  SEGMENT_SECONDS,
  SignupBody,
  TranscodeJob,
  videoKeys,
} from "../src/index.ts";

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
    const job = {
      videoId: "v1",
      input: { key: keys.source },
      output: { prefix: keys.outputPrefix },
      progressToken: "t",
    };
    expect(TranscodeJob.parse(job)).toEqual(job);
    expect(TranscodeJob.safeParse({ ...job, output: { prefix: "no-slash" } }).success).toBe(false);
    expect(TranscodeJob.safeParse({ videoId: "v1" }).success).toBe(false);
    expect(TranscodeJob.safeParse({ ...job, progressToken: "" }).success).toBe(false);
    expect(TranscodeJob.safeParse("v1").success).toBe(false);
  });
});

describe("ladder defaults", () => {
  it("is 1080/720/480, tallest first, with keyframes dividing the segment length", () => {
    expect(DEFAULT_LADDER.map((r) => r.height)).toEqual([1080, 720, 480]);
    for (const r of DEFAULT_LADDER) expect(r.maxBitrate).toBeGreaterThan(r.videoBitrate);
    expect(SEGMENT_SECONDS % KEYFRAME_SECONDS).toBe(0);
  });
});
