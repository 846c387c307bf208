import { UnrecoverableError } from "bullmq";
import { describe, expect, it } from "vitest";
import { chunkEncoder } from "../../src/chunked/chunk-worker.ts";
import { ChunkJob } from "../../src/chunked/types.ts";

const job = {
  videoId: "0b8a5f3e-8c1d-4e2a-9f00-5d6c7b8a9e10",
  chunk: 2,
  totalFrames: 600,
  fps: { num: 30, den: 1 },
  chunkSeconds: 24,
  rungs: [
    {
      name: "360p",
      width: 640,
      height: 360,
      videoBitrate: 800_000,
      maxBitrate: 1_200_000,
      bufsize: 2_400_000,
    },
  ],
  facts: {},
};

describe("a video's chunks all run with the encoder its coordinator chose", () => {
  it("carries the coordinator's encoder in the chunk job, and refuses a malformed one", () => {
    const parsed = ChunkJob.parse({ ...job, encoder: { kind: "x264", preset: "medium" } });
    expect(parsed.encoder).toEqual({ kind: "x264", preset: "medium" });
    expect(ChunkJob.safeParse({ ...job, encoder: { kind: "x264", preset: "-vf evil" } }).success).toBe(false);
    expect(ChunkJob.safeParse({ ...job, encoder: { kind: "av1" } }).success).toBe(false);
    // Queued before the field existed: still a valid job (the node's own encoder runs it).
    expect(ChunkJob.parse(job).encoder).toBeUndefined();
  });

  it("uses the job's settings over the node's own (another X264_PRESET would write another init)", () => {
    expect(chunkEncoder({ kind: "x264", preset: "medium" }, { kind: "x264", preset: "veryfast" })).toEqual({
      kind: "x264",
      preset: "medium",
    });
    expect(chunkEncoder(undefined, { kind: "x264", preset: "veryfast" })).toEqual({
      kind: "x264",
      preset: "veryfast",
    });
    expect(chunkEncoder({ kind: "x264", preset: "veryfast" }, { kind: "nvenc" })).toEqual({
      kind: "x264",
      preset: "veryfast",
    });
  });

  it("refuses an NVENC video's chunk on a node without NVENC, saying why", () => {
    expect(() => chunkEncoder({ kind: "nvenc" }, { kind: "x264", preset: "veryfast" })).toThrow(
      UnrecoverableError,
    );
    expect(() => chunkEncoder({ kind: "nvenc" }, { kind: "x264", preset: "veryfast" })).toThrow(
      /same ENCODER/,
    );
  });
});
