import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildLadderArgs } from "../src/media/ffmpeg-args.ts";
import { normalizeInitSegment } from "../src/media/hls-layout.ts";
import { measureVariant, parseAvcInit } from "../src/media/hls-measure.ts";
import { planLadder } from "../src/media/ladder.ts";
import { probeFile } from "../src/media/probe.ts";
import { runFfmpeg } from "../src/media/run-ffmpeg.ts";

const run = promisify(execFile);
const LADDER = [
  { height: 360, videoBitrate: 800_000, maxBitrate: 1_200_000 },
  { height: 270, videoBitrate: 500_000, maxBitrate: 750_000 },
  { height: 180, videoBitrate: 250_000, maxBitrate: 400_000 },
];

/** Runs ffprobe on a variant's init + segments joined into one playable file. */
async function probeVariant(dir: string, args: string[]): Promise<string> {
  const files = (await readdir(dir)).filter((f) => f.endsWith(".m4s")).sort();
  const joined = Buffer.concat(await Promise.all(["init.mp4", ...files].map((f) => readFile(join(dir, f)))));
  const whole = join(dir, "..", `${dir.split("/").at(-1)}-whole.mp4`);
  await writeFile(whole, joined);
  try {
    return (await run("ffprobe", ["-v", "error", ...args, "-of", "csv=p=0", whole])).stdout.trim();
  } finally {
    await rm(whole);
  }
}

/** Keyframe times of a variant relative to its first frame. */
async function keyframeTimes(dir: string): Promise<string[]> {
  const lines = (
    await probeVariant(dir, ["-select_streams", "v:0", "-show_entries", "packet=pts_time,flags"])
  )
    .split("\n")
    .filter((l) => l.includes("K"))
    .map((l) => Number(l.split(",")[0]));
  const first = lines[0] ?? 0;
  return lines.map((t) => (t - first).toFixed(2));
}

describe("real ffmpeg: one process, three rungs, audio once", () => {
  let dir: string;
  let outDir: string;
  const progress: number[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "streamlet-encode-"));
    const source = join(dir, "source");
    await run("ffmpeg", [
      ...["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"],
      ...["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", "7"],
      ...[
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-f",
        "mp4",
        source,
      ],
    ]);
    const facts = await probeFile(source, { ffprobePath: "ffprobe", ffmpegPath: "ffmpeg" });
    const plan = planLadder(facts, LADDER);
    outDir = join(dir, "out");
    await mkdir(outDir);
    const args = buildLadderArgs({
      input: source,
      outDir,
      facts,
      rungs: plan.rungs,
      fps: plan.fps,
      encoder: { kind: "x264", preset: "veryfast" },
    });
    await runFfmpeg(args, { durationSeconds: facts.durationSeconds, onProgress: (p) => progress.push(p) });
    for (const name of ["360p", "270p", "180p", "audio"]) await normalizeInitSegment(join(outDir, name));
  }, 60_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("writes <name>/index.m3u8, <name>/init.mp4 and numbered segments for every variant", async () => {
    expect((await readdir(outDir)).sort()).toEqual(["180p", "270p", "360p", "audio"]);
    for (const name of ["360p", "270p", "180p", "audio"]) {
      expect((await readdir(join(outDir, name))).sort()).toEqual([
        "index.m3u8",
        "init.mp4",
        "seg_00001.m4s",
        "seg_00002.m4s",
      ]);
      const playlist = await readFile(join(outDir, name, "index.m3u8"), "utf8");
      expect(playlist).toContain('#EXT-X-MAP:URI="init.mp4"');
      expect(playlist).toContain("#EXT-X-PLAYLIST-TYPE:VOD");
    }
  });

  it("segments and keyframes line up across rungs (IDR every 2 s)", async () => {
    const measured = await Promise.all(["360p", "270p", "180p"].map((n) => measureVariant(join(outDir, n))));
    const durations = measured.map((m) => m.playlist.segments.map((s) => s.duration.toFixed(3)));
    expect(durations[1]).toEqual(durations[0]);
    expect(durations[2]).toEqual(durations[0]);
    const keyframes = await Promise.all(["360p", "270p", "180p"].map((n) => keyframeTimes(join(outDir, n))));
    expect(keyframes[0]).toEqual(["0.00", "2.00", "4.00", "6.00"]);
    expect(keyframes[1]).toEqual(keyframes[0]);
    expect(keyframes[2]).toEqual(keyframes[0]);
  });

  it("measures High-profile codecs and the planned sizes from the init segments", async () => {
    const sizes: string[] = [];
    for (const name of ["360p", "270p", "180p"]) {
      const m = await measureVariant(join(outDir, name));
      const avc = parseAvcInit(m.init as Uint8Array);
      expect(avc.codecs).toMatch(/^avc1\.64[0-9a-f]{4}$/);
      sizes.push(`${avc.width}x${avc.height}`);
      expect(m.stats.durationSeconds).toBeCloseTo(7, 0);
      expect(m.stats.peakBitrate).toBeGreaterThan(0);
      expect(m.stats.peakBitrate).toBeGreaterThanOrEqual(m.stats.averageBitrate * 0.99);
    }
    expect(sizes).toEqual(["640x360", "480x270", "320x180"]);
  });

  it("encodes audio once as AAC-LC stereo 48 kHz", async () => {
    const probed = await probeVariant(join(outDir, "audio"), [
      ...["-show_entries", "stream=codec_name,profile,sample_rate,channels"],
    ]);
    expect(probed).toBe("aac,LC,48000,2");
  });

  it("reported progress stays within 0-100 and reaches the end", () => {
    expect(progress.length).toBeGreaterThan(0);
    expect(Math.min(...progress)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...progress)).toBeLessThanOrEqual(100);
    expect(Math.max(...progress)).toBeGreaterThan(90);
  });
});

describe("real ffmpeg: a source rotated 90° comes out portrait", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "streamlet-rotate-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("probes as portrait, plans a portrait rung and ffmpeg autorotates into it", async () => {
    const plain = join(dir, "plain.mp4");
    const source = join(dir, "source");
    await run("ffmpeg", [
      ...["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-t", "2"],
      ...["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", plain],
    ]);
    // A stream copy with the rotate tag writes a display matrix, like a phone held upright.
    await run("ffmpeg", [
      "-v",
      "error",
      "-y",
      "-i",
      plain,
      "-c",
      "copy",
      "-metadata:s:v:0",
      "rotate=90",
      "-f",
      "mp4",
      source,
    ]);
    const facts = await probeFile(source, { ffprobePath: "ffprobe", ffmpegPath: "ffmpeg" });
    expect([facts.width, facts.height]).toEqual([180, 320]);
    const plan = planLadder(facts, [{ height: 180, videoBitrate: 300_000, maxBitrate: 450_000 }]);
    expect(plan.rungs.map((r) => `${r.name} ${r.width}x${r.height}`)).toEqual(["180p 180x320"]);
    const outDir = join(dir, "out");
    await mkdir(outDir);
    const { rungs, fps } = plan;
    const encoder = { kind: "x264", preset: "ultrafast" } as const;
    await runFfmpeg(buildLadderArgs({ input: source, outDir, facts, rungs, fps, encoder }));
    await normalizeInitSegment(join(outDir, "180p"));
    const { init } = await measureVariant(join(outDir, "180p"));
    const avc = parseAvcInit(init as Uint8Array);
    expect([avc.width, avc.height]).toEqual([180, 320]);
    const rotation = await probeVariant(join(outDir, "180p"), ["-show_entries", "stream_side_data=rotation"]);
    expect(rotation).toBe(""); // pixels were rotated; no display matrix left for players to apply twice
  }, 30_000);
});
