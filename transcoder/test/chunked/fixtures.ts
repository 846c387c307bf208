import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { segmentName } from "@streamlet/shared";
import { chunkPlanOf } from "../../src/chunked/run-chunk.ts";
import type { ChunkedVideo } from "../../src/chunked/types.ts";
import { testId } from "../helpers/ids.ts";

const exec = promisify(execFile);

/** A 2-rung ladder for a 320x180 source. */
export const RUNGS = [
  { name: "180p", width: 320, height: 180, videoBitrate: 300_000, maxBitrate: 450_000, bufsize: 900_000 },
  { name: "90p", width: 160, height: 90, videoBitrate: 100_000, maxBitrate: 150_000, bufsize: 300_000 },
];

/** 20 s at 25 fps with chunkSeconds 6: chunks of segments [1], [2-3], [4], [5], [6]. */
export const SECONDS = 20;
export const FPS = { num: 25, den: 1 };

/** A small moving 320x180 clip with a tone. */
export async function makeClip(file: string, seconds = SECONDS): Promise<void> {
  await exec("ffmpeg", [
    ...["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25"],
    ...["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", String(seconds)],
    ...["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", file],
  ]);
}

/** The video as the coordinator hands it to a runner. */
export function videoOf(
  name: string,
  sourcePath = "/nonexistent",
  over: Partial<ChunkedVideo> = {},
): ChunkedVideo {
  const base = { totalFrames: SECONDS * 25, fps: FPS, chunkSeconds: 6 };
  return {
    videoId: testId(name),
    ...base,
    rungs: RUNGS,
    facts: { rotation: 0, videoCodec: "h264", pixelFormat: "yuv420p" },
    chunkCount: chunkPlanOf(base).chunks.length,
    source: { url: async () => sourcePath, path: async () => sourcePath },
    ...over,
  };
}

/** Every key a finished video's chunks store below its output prefix. */
export function expectedKeys(prefix: string, chunks?: number[]): string[] {
  const plan = chunkPlanOf({ totalFrames: SECONDS * 25, fps: FPS, chunkSeconds: 6 });
  const wanted = plan.chunks.filter((c) => !chunks || chunks.includes(c.index));
  return RUNGS.flatMap((r) => [
    ...(wanted.some((c) => c.index === 1) ? [`${prefix}${r.name}/init.mp4`] : []),
    ...wanted.flatMap((c) =>
      Array.from(
        { length: c.segmentCount },
        (_, i) => `${prefix}${r.name}/${segmentName(c.firstSegment + i)}`,
      ),
    ),
  ]).sort();
}
