import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { outputPrefix } from "@streamlet/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChunkDone } from "../src/chunked/types.ts";
import type { PlannedRung } from "../src/media/index.ts";
import { planChunks } from "../src/media/index.ts";
import { createPublication } from "../src/publication.ts";
import { createStorage } from "../src/storage.ts";
import { testId } from "./helpers/ids.ts";
import { startS3, type TestS3 } from "./helpers/s3.ts";

// The coordinator's check of what a chunk reports against its own plan, with the real storage client
// and s3rver (the playlists it writes are read back).

const RUNG: PlannedRung = {
  name: "360p",
  width: 640,
  height: 360,
  videoBitrate: 800_000,
  maxBitrate: 1_200_000,
  bufsize: 2_400_000,
};
// 61.5 s at 30 fps: chunks of [1, 3, 3, 2, 1, 1, 1, 1, 1] segments (plan.test.ts).
const PLAN = planChunks({ durationSeconds: 61.5, fps: { num: 30, den: 1 } });
const HASH = "a".repeat(64);

const report = (chunk: number, indices: number[]): ChunkDone => ({
  chunk,
  rungs: [
    {
      rung: RUNG.name,
      initSha256: HASH,
      segments: indices.map((index) => ({ index, durationSeconds: 6, bytes: 1000 })),
    },
  ],
});

describe("publication: a chunk reports the segments the plan gives it", () => {
  let s3: TestS3;
  let dir: string;
  beforeAll(async () => {
    s3 = await startS3();
    dir = await mkdtemp(join(tmpdir(), "streamlet-publication-"));
  });
  afterAll(async () => {
    await s3?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const publication = (videoId: string) =>
    createPublication({
      videoId,
      storage: createStorage(s3.config),
      rungs: [RUNG],
      plan: PLAN,
      hasAudio: false,
      workDir: dir,
    });

  it("refuses segments another plan would give (a node of another version), accepts its own", async () => {
    expect(PLAN.chunks.map((c) => c.segmentCount)).toEqual([1, 3, 3, 2, 1, 1, 1, 1, 1]);
    const videoId = testId("publication-plan-check");
    const p = publication(videoId);
    // A node planning otherwise (the old 2-s opening and 24-s chunks, say) reports other segments.
    await expect(p.chunkDone(report(3, [5, 6, 7, 8]))).rejects.toThrow(
      /chunk 3 of rung 360p reports segments \[5, 6, 7, 8\], the plan gives it \[5, 6, 7\]/,
    );
    await expect(p.chunkDone(report(3, [5, 6]))).rejects.toThrow(/the plan gives it \[5, 6, 7\]/);
    await expect(p.chunkDone(report(4, [7, 8]))).rejects.toThrow(/the plan gives it \[8, 9\]/);
    await expect(p.chunkDone(report(10, [15]))).rejects.toThrow(/the plan gives it \[\]/);
    await expect(p.chunkDone(report(2, []))).rejects.toThrow(/reports segments \[\]/);
    await p.chunkDone(report(3, [5, 6, 7]));
    // The last chunk may end early (a source shorter than its header said).
    await p.chunkDone(report(9, [14]));
    // Nothing is playable yet: segment 1 is missing, so no playlist lists anything.
    expect(p.playable).toBe(false);
    expect(await s3.list(outputPrefix(videoId))).toEqual([]);
  });
});
