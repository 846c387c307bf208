/**
 * The storyboard (delivery/storyboard.ts) from real CMAF rungs. The sources change their brightness
 * every second (a known grey level per second), so the test can check that the region a cue points to
 * shows the picture of that cue's time: a wrong region, sheet, row or a timeline shifted by a second
 * shows another grey.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { STORYBOARD_VTT, spriteName } from "@streamlet/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ChunkResult, encodeChunk } from "../src/media/chunks/encode-chunk.ts";
import { planChunks } from "../src/media/chunks/plan.ts";
import {
  buildStoryboardVtt,
  expectedThumbnails,
  makeStoryboard,
  storyboardInterval,
  vttTime,
} from "../src/media/delivery/storyboard.ts";
import type { LocalTrack } from "../src/media/delivery/types.ts";

const run = promisify(execFile);
const OPTIONS = { timeoutMs: 60_000 };
/** Grey levels cycle with this period (s), so a long clip still has a distinct level per nearby second. */
const LEVELS = 11;
/** Luma of second s of a source (limited range). */
const level = (second: number) => 24 + 18 * (second % LEVELS);

let dir: string;

/** A grey picture whose luma steps every second, with a small moving box so the encoder has work. */
function greySource(size: string, rate: number) {
  return `color=c=black:s=${size}:r=${rate},format=yuv420p,geq=lum='${24}+18*mod(floor(T)\\,${LEVELS})':cb=128:cr=128`;
}

interface Cue {
  start: number;
  end: number;
  sprite: string;
  x: number;
  y: number;
  w: number;
  h: number;
}

/** A small WebVTT reader for storyboard cues; throws on anything else. */
function parseVtt(text: string): Cue[] {
  const [head, ...blocks] = text.trim().split(/\n\n+/);
  if (head !== "WEBVTT") throw new Error(`not a WebVTT: ${head}`);
  const seconds = (t: string) => {
    const m = /^(\d{2}):(\d{2}):(\d{2})\.(\d{3})$/.exec(t);
    if (!m) throw new Error(`bad cue time ${t}`);
    return Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) + Number(m[4]) / 1000;
  };
  return blocks.map((block) => {
    const [timing, payload, ...rest] = block.split("\n");
    if (rest.length > 0) throw new Error(`cue with extra lines: ${block}`);
    const t = /^(\S+) --> (\S+)$/.exec(timing ?? "");
    const p = /^([\w.]+)#xywh=(\d+),(\d+),(\d+),(\d+)$/.exec(payload ?? "");
    if (!t || !p) throw new Error(`bad cue: ${block}`);
    return {
      start: seconds(t[1] as string),
      end: seconds(t[2] as string),
      sprite: p[1] as string,
      x: Number(p[2]),
      y: Number(p[3]),
      w: Number(p[4]),
      h: Number(p[5]),
    };
  });
}

/** A JPEG's pixels as 8-bit grey, with its real size (ffprobe). */
async function greyPixels(file: string) {
  const { stdout } = await run("ffprobe", [
    ...["-v", "error", "-show_entries", "stream=width,height", "-of", "csv=p=0", file],
  ]);
  const [width, height] = stdout.trim().split(",").map(Number) as [number, number];
  const { stdout: raw } = await run(
    "ffmpeg",
    ["-v", "error", "-i", file, "-vf", "format=gray", "-f", "rawvideo", "-"],
    { encoding: "buffer", maxBuffer: 64 * 1024 * 1024 },
  );
  return { width, height, pixels: raw as Buffer };
}

/** Mean grey of a region (its inner half, away from JPEG edges between cells). */
function regionMean(img: { width: number; pixels: Buffer }, c: Cue): number {
  let sum = 0;
  let n = 0;
  for (let y = c.y + c.h / 4; y < c.y + (3 * c.h) / 4; y++) {
    for (let x = c.x + c.w / 4; x < c.x + (3 * c.w) / 4; x++) {
      sum += img.pixels[Math.floor(y) * img.width + Math.floor(x)] as number;
      n++;
    }
  }
  return sum / n;
}

/** The second (within the level cycle) whose grey is nearest to a full-range grey value. */
function secondOf(grey: number): number {
  const full = (luma: number) => ((luma - 16) * 255) / 219;
  let best = 0;
  for (let s = 1; s < LEVELS; s++) {
    if (Math.abs(full(level(s)) - grey) < Math.abs(full(level(best)) - grey)) best = s;
  }
  return best;
}

/** The rung folder's init and segments as a LocalTrack (segment durations are not used here). */
async function trackOf(folder: string, name: string): Promise<LocalTrack> {
  const segments = (await readdir(folder)).filter((f) => /^seg_\d+\.m4s$/.test(f)).sort();
  return {
    name,
    initPath: join(folder, "init.mp4"),
    segmentPaths: segments.map((s) => join(folder, s)),
    durations: segments.map(() => 0),
  };
}

/** Checks a storyboard end to end; returns the cues. */
async function checkStoryboard(outDir: string, durationSeconds: number, meta: { sprites: number }) {
  const cues = parseVtt(await readFile(join(outDir, STORYBOARD_VTT), "utf8"));
  // Contiguous, from 0 to the duration.
  expect(cues[0]?.start).toBe(0);
  for (const [i, cue] of cues.entries()) {
    expect(cue.end).toBeGreaterThan(cue.start);
    if (i > 0) expect(cue.start).toBe(cues[i - 1]?.end);
  }
  expect(cues.at(-1)?.end).toBeCloseTo(durationSeconds, 3);
  // Every region inside its sheet's real pixels; the sheets named are exactly the ones written.
  const names = [...new Set(cues.map((c) => c.sprite))];
  expect(names).toEqual(Array.from({ length: meta.sprites }, (_, i) => spriteName(i + 1)));
  const files = (await readdir(outDir)).filter((f) => f.endsWith(".jpg")).sort();
  expect(files).toEqual(names);
  const images = new Map<string, Awaited<ReturnType<typeof greyPixels>>>();
  for (const name of names) images.set(name, await greyPixels(join(outDir, name)));
  for (const cue of cues) {
    const img = images.get(cue.sprite);
    if (!img) throw new Error(`no sheet ${cue.sprite}`);
    expect(cue.x + cue.w).toBeLessThanOrEqual(img.width);
    expect(cue.y + cue.h).toBeLessThanOrEqual(img.height);
    // The picture on screen at the cue's start.
    expect({ cue: cue.start, shows: secondOf(regionMean(img, cue)) }).toEqual({
      cue: cue.start,
      shows: Math.floor(cue.start) % LEVELS,
    });
  }
  return cues;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "streamlet-storyboard-"));
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("storyboardInterval", () => {
  it.each([
    [10, 1],
    [200, 1],
    [201, 2],
    [600, 3],
    [3600, 20],
    [6 * 3600, 120],
    [48 * 3600, 900],
  ])("%s s → every %s s", (duration, interval) => {
    expect(storyboardInterval(duration)).toBe(interval);
  });

  it("keeps every video at 200 thumbnails or fewer: over 100 past 200 s, over 133 past 400 s", () => {
    for (let d = 1; d < 50_000; d += 7.3) {
      const n = expectedThumbnails(d, storyboardInterval(d));
      expect(n).toBeLessThanOrEqual(200);
      if (d > 200) expect(n).toBeGreaterThan(100);
      if (d > 400) expect(n).toBeGreaterThan(133);
    }
  });
});

describe("buildStoryboardVtt", () => {
  it("walks the grid row by row and sheet by sheet, the last cue ending at the duration", () => {
    const vtt = buildStoryboardVtt({
      starts: [0, 2, 4, 6, 8],
      durationSeconds: 9.5,
      width: 160,
      height: 90,
      columns: 2,
      rows: 2,
    });
    expect(parseVtt(vtt).map((c) => [c.start, c.end, c.sprite, c.x, c.y])).toEqual([
      [0, 2, "sprite_001.jpg", 0, 0],
      [2, 4, "sprite_001.jpg", 160, 0],
      [4, 6, "sprite_001.jpg", 0, 90],
      [6, 8, "sprite_001.jpg", 160, 90],
      [8, 9.5, "sprite_002.jpg", 0, 0],
    ]);
    expect(vttTime(3723.4567)).toBe("01:02:03.457");
  });
});

describe("makeStoryboard", () => {
  it("a 12.5-s chunked rung: 13 thumbnails at 1 s, one partial sheet, each showing its second", async () => {
    const source = join(dir, "short.mp4");
    await run("ffmpeg", [
      ...["-v", "error", "-y", "-f", "lavfi", "-i", greySource("320x180", 25), "-t", "12.5"],
      ...["-c:v", "libx264", "-preset", "veryfast", source],
    ]);
    const plan = planChunks({ durationSeconds: 12.5, fps: { num: 25, den: 1 } });
    const rung = { name: "90p", width: 160, height: 90, videoBitrate: 2e5, maxBitrate: 3e5, bufsize: 6e5 };
    const results: ChunkResult[] = [];
    for (const chunk of plan.chunks) {
      results.push(
        await encodeChunk({
          input: source,
          outDir: join(dir, "short"),
          rungs: [rung],
          encoder: { kind: "x264", preset: "veryfast" },
          plan,
          chunk: chunk.index,
        }),
      );
    }
    const track = await trackOf(join(dir, "short", "90p"), "90p");
    const outDir = join(dir, "short-storyboard");
    await mkdir(outDir);
    const started = Date.now();
    const made = await makeStoryboard({ track, durationSeconds: 12.5, outDir }, OPTIONS);
    console.log(`makeStoryboard: 12.5 s of 90p in ${Date.now() - started} ms`);
    expect(made.meta).toEqual({ intervalSeconds: 1, thumbnails: 13, sprites: 1, width: 160, height: 90 });
    expect(made.files).toEqual([join(outDir, "sprite_001.jpg"), join(outDir, STORYBOARD_VTT)]);
    const cues = await checkStoryboard(outDir, 12.5, made.meta);
    expect(cues).toHaveLength(13);
    // The sheet is 10 x 2 cells; the last 7 cells are padding without cues.
    expect((await greyPixels(made.files[0] as string)).height).toBe(180);
  }, 120_000);

  it("a 450-s rung: every 3 s, 150 thumbnails on 2 sheets, each the picture at its cue's start", async () => {
    const seconds = 450;
    const folder = join(dir, "long");
    await mkdir(folder);
    // CMAF by FFmpeg's hls muxer (positive composition offsets), tiny and at 5 fps to stay cheap.
    await run("ffmpeg", [
      ...["-v", "error", "-y", "-f", "lavfi", "-i", greySource("128x72", 5), "-t", String(seconds)],
      ...["-c:v", "libx264", "-preset", "veryfast", "-g", "10", "-f", "hls", "-hls_time", "6"],
      ...["-hls_playlist_type", "vod", "-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", "init.mp4"],
      ...["-hls_segment_filename", join(folder, "seg_%05d.m4s"), join(folder, "index.m3u8")],
    ]);
    // At 3 s a thumbnail taken mid-interval (the fps filter's default rounding) shows the next second.
    const track = await trackOf(folder, "72p");
    const outDir = join(dir, "long-storyboard");
    await mkdir(outDir);
    const started = Date.now();
    const made = await makeStoryboard({ track, durationSeconds: seconds, outDir }, OPTIONS);
    console.log(`makeStoryboard: ${seconds} s of 72p at 5 fps in ${Date.now() - started} ms`);
    // 128 px wide rung: thumbnails are never wider than the rung.
    expect(made.meta).toEqual({ intervalSeconds: 3, thumbnails: 150, sprites: 2, width: 128, height: 72 });
    const cues = await checkStoryboard(outDir, seconds, made.meta);
    expect(cues).toHaveLength(150);
    expect(cues[100]).toMatchObject({ start: 300, sprite: "sprite_002.jpg", x: 0, y: 0 });
  }, 120_000);
});
