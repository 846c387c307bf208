/**
 * Quality measurement (delivery/quality.ts) against rungs encoded the way the worker encodes them
 * (chunks, x264). The source scrolls a detailed picture a few pixels every frame, so a comparison that
 * pairs a rung frame with the wrong source frame (one frame or one second off: a start time ignored,
 * FFmpeg's dts_shift, rotation) scores clearly lower than the right pairing.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ChunkResult, encodeChunk } from "../src/media/chunks/encode-chunk.ts";
import { planChunks } from "../src/media/chunks/plan.ts";
import {
  measureQuality,
  parsePsnrStats,
  parseSsimStats,
  psnrOf,
  rateOf,
  samplePoints,
} from "../src/media/delivery/quality.ts";
import type { LocalRung } from "../src/media/delivery/types.ts";
import type { PlannedRung } from "../src/media/ladder.ts";

const run = promisify(execFile);
const FPS = 25;
const SECONDS = 6;
const OPTIONS = { timeoutMs: 60_000 };

let dir: string;

/** A detailed picture scrolling diagonally, `seconds` long, starting `skip` seconds into the pattern. */
async function makeSource(file: string, o: { skip?: number; extra?: string[]; size?: string } = {}) {
  const picture = `testsrc2=s=${o.size ?? "320x180"}:r=${FPS},scroll=h=0.013:v=0.007`;
  await run("ffmpeg", [
    ...["-v", "error", "-y", "-f", "lavfi", "-i", picture],
    ...(o.skip ? ["-ss", String(o.skip)] : []),
    ...["-t", String(SECONDS), "-c:v", "libx264", "-preset", "veryfast", "-crf", "12", "-pix_fmt", "yuv420p"],
    ...(o.extra ?? []),
    file,
  ]);
}

/** Encodes `rungs` from `source` in chunks (as the worker does) and returns them as LocalRungs. */
async function encode(source: string, out: string, rungs: PlannedRung[], crf = 21): Promise<LocalRung[]> {
  const plan = planChunks({ durationSeconds: SECONDS, fps: { num: FPS, den: 1 } });
  const results: ChunkResult[] = [];
  for (const chunk of plan.chunks) {
    results.push(
      await encodeChunk({
        input: source,
        outDir: out,
        rungs,
        encoder: { kind: "x264", preset: "veryfast", crf },
        plan,
        chunk: chunk.index,
      }),
    );
  }
  return rungs.map((r) => {
    const parts = results.map((res) => res.rungs.find((x) => x.rung === r.name));
    const segments = parts.flatMap((p) => p?.segments ?? []);
    return {
      name: r.name,
      initPath: parts[0]?.initPath as string,
      segmentPaths: segments.map((s) => s.path),
      durations: segments.map((s) => s.durationSeconds),
      width: r.width,
      height: r.height,
      codecs: "avc1.640015",
      frameRate: FPS,
    };
  });
}

const rung = (name: string, width: number, height: number, maxBitrate: number): PlannedRung => ({
  name,
  width,
  height,
  videoBitrate: maxBitrate,
  maxBitrate,
  bufsize: maxBitrate * 2,
});

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "streamlet-quality-"));
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("quality helpers", () => {
  it("rateOf spells NTSC rates exactly", () => {
    expect(rateOf(29.97)).toBe("30000/1001");
    expect(rateOf(59.94)).toBe("60000/1001");
    expect(rateOf(23.976)).toBe("24000/1001");
    expect(rateOf(25)).toBe("25");
    expect(rateOf(30)).toBe("30");
  });

  it("samplePoints spreads whole frames over the video and stops before its end", () => {
    expect(samplePoints(10, 4, 25, 5)).toEqual([1.24, 3.72, 6.24, 8.72]);
    const short = samplePoints(0.4, 8, 25, 5);
    expect(Math.max(...short)).toBeLessThanOrEqual(0.2);
  });

  it("reads the per-frame stats; identical pictures give the PSNR cap, not infinity", () => {
    expect(
      parseSsimStats("n:1 Y:0.99 U:0.98 V:0.97 All:0.985 (18.2)\nn:2 Y:1 U:1 V:1 All:1.000000 (inf)\n"),
    ).toEqual([0.985, 1]);
    const mse = parsePsnrStats("n:1 mse_avg:0.00 psnr_avg:inf \nn:2 mse_avg:6.50 psnr_avg:40.00 \n");
    expect(mse[0]).toBe(0);
    expect(mse[1]).toBeCloseTo(6.5025, 3);
    expect(psnrOf(0)).toBe(100);
    expect(psnrOf(6.5025)).toBeCloseTo(40, 6);
  });
});

describe("measureQuality", () => {
  let source: string;
  let good: LocalRung[];

  beforeAll(async () => {
    source = join(dir, "source.mp4");
    await makeSource(source);
    good = await encode(source, join(dir, "good"), [
      rung("180p", 320, 180, 5_000_000),
      rung("90p", 160, 90, 2_000_000),
      rung("180p-2", 320, 180, 40_000),
    ]);
  }, 180_000);

  it("scores a well-encoded rung high at full and scaled size, a starved one clearly lower", async () => {
    const started = Date.now();
    const scores = await measureQuality({ source, rungs: good, durationSeconds: SECONDS }, OPTIONS);
    console.log(`measureQuality: 3 rungs, 8 points x 5 frames in ${Date.now() - started} ms`, scores);
    const hi = scores.get("180p");
    const small = scores.get("90p");
    const starved = scores.get("180p-2");
    if (!hi || !small || !starved) throw new Error("a rung has no score");
    expect(hi.frames).toBe(40);
    expect(hi.ssim).toBeGreaterThan(0.95);
    expect(small.ssim).toBeGreaterThan(0.95);
    expect(starved.ssim).toBeLessThan(hi.ssim - 0.1);
    expect(starved.psnr).toBeLessThan(hi.psnr - 5);
  }, 120_000);

  it("scores a rung made from a different moment (one frame, one second later) clearly lower", async () => {
    const frameLate = join(dir, "frame-late.mp4");
    await makeSource(frameLate, { skip: 1 / FPS });
    const secondLate = join(dir, "second-late.mp4");
    await makeSource(secondLate, { skip: 1 });
    const one = rung("180p", 320, 180, 5_000_000);
    const [frameRung] = await encode(frameLate, join(dir, "frame-late"), [one]);
    const [secondRung] = await encode(secondLate, join(dir, "second-late"), [one]);
    const right = await measureQuality(
      { source, rungs: [good[0] as LocalRung], durationSeconds: SECONDS },
      OPTIONS,
    );
    const frameOff = await measureQuality(
      { source, rungs: [frameRung as LocalRung], durationSeconds: SECONDS },
      OPTIONS,
    );
    const secondOff = await measureQuality(
      { source, rungs: [secondRung as LocalRung], durationSeconds: SECONDS },
      OPTIONS,
    );
    const ssim = (m: Map<string, { ssim: number }>) => m.get("180p")?.ssim ?? Number.NaN;
    console.log("right / 1 frame off / 1 s off:", ssim(right), ssim(frameOff), ssim(secondOff));
    expect(ssim(frameOff)).toBeLessThan(ssim(right) - 0.1);
    expect(ssim(secondOff)).toBeLessThan(ssim(right) - 0.1);
  }, 180_000);

  it("lines up a source that starts at 1.4 s (MPEG-TS) and a rotated one", async () => {
    const ts = join(dir, "source.ts");
    // A keyframe a second, as broadcast streams have (FFmpeg cannot seek a long-GOP TS to mid-GOP).
    await makeSource(ts, { extra: ["-g", String(FPS), "-f", "mpegts"] });
    const { stdout } = await run("ffprobe", [
      "-v",
      "error",
      "-show_entries",
      "format=start_time",
      "-of",
      "csv=p=0",
      ts,
    ]);
    expect(Number(stdout)).toBeGreaterThan(1);
    const [tsRung] = await encode(ts, join(dir, "ts"), [rung("180p", 320, 180, 5_000_000)]);
    const fromTs = await measureQuality(
      { source: ts, rungs: [tsRung as LocalRung], durationSeconds: SECONDS },
      OPTIONS,
    );
    expect(fromTs.get("180p")?.ssim).toBeGreaterThan(0.95);

    // Stored 320x180 with a 90° display matrix: the rung (and the comparison) see it upright, 180x320.
    const rotated = join(dir, "rotated.mp4");
    const plain = join(dir, "plain.mp4");
    await makeSource(plain);
    // A stream copy with the rotate tag writes a display matrix (encoding with it does not, in 5.1).
    await run("ffmpeg", [
      ...["-v", "error", "-y", "-i", plain, "-c", "copy"],
      ...["-metadata:s:v:0", "rotate=90", "-f", "mp4", rotated],
    ]);
    const { stdout: side } = await run("ffprobe", ["-v", "error", "-show_streams", "-of", "json", rotated]);
    expect(side).toMatch(/"rotation": -?90\b/);
    const [upright] = await encode(rotated, join(dir, "rotated"), [rung("180p", 180, 320, 5_000_000)]);
    const fromRotated = await measureQuality(
      { source: rotated, rungs: [upright as LocalRung], durationSeconds: SECONDS },
      OPTIONS,
    );
    expect(fromRotated.get("180p")?.ssim).toBeGreaterThan(0.95);
  }, 180_000);
});
