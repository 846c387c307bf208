import { describe, expect, it } from "vitest";
import {
  CreateVideoBody,
  DEFAULT_LADDER,
  KEYFRAME_SECONDS,
  LoginBody,
  SEGMENT_SECONDS,
  SignupBody,
  TranscodeJob,
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

  it("requires a non-blank title of bounded length and exactly one of upload and source", () => {
    expect(CreateVideoBody.parse({ title: "  Hi  ", upload: { size: 1 } }).title).toBe("Hi");
    expect(
      CreateVideoBody.parse({ title: "Hi", source: { url: "https://example.com/a.mp4" } }).source,
    ).toEqual({
      url: "https://example.com/a.mp4",
    });
    for (const body of [
      {},
      { title: "   ", upload: { size: 1 } },
      { title: "x".repeat(201), upload: { size: 1 } },
      { title: "ok", description: 3, upload: { size: 1 } },
      { title: "ok" },
      { title: "ok", upload: { size: 1 }, source: { url: "https://example.com/a.mp4" } },
      { title: "ok", upload: { size: -1 } },
      { title: "ok", upload: { size: 1, contentType: "not a type" } },
      { title: "ok", source: { url: "gopher://example.com/a" } },
      { title: "ok", source: { url: `https://example.com/${"a".repeat(2048)}` } },
      null,
    ]) {
      expect(CreateVideoBody.safeParse(body).success).toBe(false);
    }
  });
});

describe("transcode job", () => {
  const id = "0b8a5f3e-8c1d-4e2a-9f00-5d6c7b8a9e10";
  const owner = "7c1e2d3f-4a5b-4c6d-8e7f-901a2b3c4d5e";
  const job = {
    videoId: id,
    ownerId: owner,
    input: { key: `sources/${id}` },
    output: { prefix: `videos/${id}/` },
    progressToken: "t",
  };

  it("accepts the payload the edge sends and rejects malformed ones", () => {
    expect(TranscodeJob.parse(job)).toEqual(job);
    expect(TranscodeJob.safeParse({ ...job, output: { prefix: "no-slash" } }).success).toBe(false);
    expect(TranscodeJob.safeParse({ videoId: id }).success).toBe(false);
    expect(TranscodeJob.safeParse({ ...job, progressToken: "" }).success).toBe(false);
    expect(TranscodeJob.safeParse({ ...job, videoId: "v1" }).success).toBe(false);
    expect(TranscodeJob.safeParse("v1").success).toBe(false);
  });

  it("names the owner by a canonical id, which the per-user limit counts by", () => {
    // A job queued before the field existed still parses (it runs, uncounted, after an upgrade).
    const { ownerId: _, ...ownerless } = job;
    expect(TranscodeJob.safeParse(ownerless).data?.ownerId).toBeUndefined();
    expect(TranscodeJob.safeParse({ ...job, ownerId: "u1" }).error?.issues[0]?.path).toEqual(["ownerId"]);
    expect(TranscodeJob.safeParse({ ...job, ownerId: owner.toUpperCase() }).data?.ownerId).toBe(owner);
  });

  it("refuses keys that are not the ones the layout derives from the id", () => {
    const other = "1b8a5f3e-8c1d-4e2a-9f00-5d6c7b8a9e10";
    const wrongSource = TranscodeJob.safeParse({ ...job, input: { key: `sources/${other}` } });
    expect(wrongSource.success).toBe(false);
    expect(wrongSource.error?.issues[0]?.path).toEqual(["input", "key"]);
    const wrongOutput = TranscodeJob.safeParse({ ...job, output: { prefix: `videos/${other}/` } });
    expect(wrongOutput.error?.issues[0]?.path).toEqual(["output", "prefix"]);
    expect(TranscodeJob.safeParse({ ...job, output: { prefix: "videos/../" } }).success).toBe(false);
  });

  it("canonicalises an upper-case video id, and then needs the canonical keys", () => {
    const upper = id.toUpperCase();
    expect(TranscodeJob.safeParse({ ...job, videoId: upper }).data?.videoId).toBe(id);
    expect(
      TranscodeJob.safeParse({
        ...job,
        videoId: upper,
        input: { key: `sources/${upper}` },
        output: { prefix: `videos/${upper}/` },
      }).success,
    ).toBe(false);
  });
});

describe("ladder defaults", () => {
  it("is 1080/720/480, tallest first, with keyframes dividing the segment length", () => {
    expect(DEFAULT_LADDER.map((r) => r.height)).toEqual([1080, 720, 480]);
    for (const r of DEFAULT_LADDER) expect(r.maxBitrate).toBeGreaterThan(r.videoBitrate);
    expect(SEGMENT_SECONDS % KEYFRAME_SECONDS).toBe(0);
  });
});
