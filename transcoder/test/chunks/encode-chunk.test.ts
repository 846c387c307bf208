import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildChunkArgs,
  type ChunkResult,
  chunkTimescale,
  cutChunk,
  encodeChunk,
} from "../../src/media/chunks/encode-chunk.ts";
import { readBoxes, readFragment, readTrackInfo } from "../../src/media/chunks/fmp4.ts";
import { type ChunkPlan, planChunks } from "../../src/media/chunks/plan.ts";
import { createEncoder, type EncoderSpec } from "../../src/media/encoder.ts";
import { buildFilterGraph } from "../../src/media/ffmpeg-args.ts";
import type { PlannedRung } from "../../src/media/ladder.ts";
import type { Rational } from "../../src/media/rational.ts";
import { runFfmpeg } from "../../src/media/run-ffmpeg.ts";

const exec = promisify(execFile);
const ENCODER: EncoderSpec = { kind: "x264", preset: "veryfast" };

const rung = (height: number, width: number, kbps: number): PlannedRung => ({
  name: `${height}p`,
  width,
  height,
  videoBitrate: kbps * 1000,
  maxBitrate: kbps * 1500,
  bufsize: kbps * 3000,
});

/** A hard-to-compress source (moving pattern under temporal noise) with a tone, so rate control works. */
async function makeSource(file: string, size: string, rate: string, seconds: number) {
  await exec("ffmpeg", [
    ...[
      "-v",
      "error",
      "-y",
      "-f",
      "lavfi",
      "-i",
      `testsrc2=size=${size}:rate=${rate},noise=alls=14:allf=t+u`,
    ],
    ...["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", String(seconds)],
    ...["-c:v", "libx264", "-preset", "ultrafast", "-crf", "16", "-pix_fmt", "yuv420p", "-c:a", "aac", file],
  ]);
}

async function ffprobe(args: string[]): Promise<string> {
  return (await exec("ffprobe", ["-v", "error", ...args], { maxBuffer: 64 * 1024 * 1024 })).stdout.trim();
}

/** A rung's init and every segment concatenated: what a player (or ffmpeg) reads. */
async function joinRung(dir: string, out: string): Promise<string> {
  const segments = (await readdir(dir)).filter((f) => /^seg_\d{5}\.m4s$/.test(f)).sort();
  const parts = await Promise.all(["init.mp4", ...segments].map((f) => readFile(join(dir, f))));
  await writeFile(out, Buffer.concat(parts));
  return out;
}

/** SSIM of two same-size files, frames paired by order: "All" overall and per frame. */
async function ssim(a: string, b: string, statsFile: string): Promise<{ all: number; frames: number[] }> {
  const { stderr } = await exec("ffmpeg", [
    ...["-hide_banner", "-i", a, "-i", b, "-lavfi"],
    `[0:v]settb=1,setpts=N[a];[1:v]settb=1,setpts=N[b];[a][b]ssim=stats_file=${statsFile}`,
    ...["-f", "null", "-"],
  ]);
  const all = /SSIM .* All:([\d.]+)/.exec(stderr)?.[1];
  if (!all) throw new Error(`no SSIM in ffmpeg's output: ${stderr.slice(-500)}`);
  const frames = (await readFile(statsFile, "utf8"))
    .trim()
    .split("\n")
    .map((l) => Number(/All:([\d.]+)/.exec(l)?.[1]));
  return { all: Number(all), frames };
}

interface JoinFacts {
  frames: number;
  pts: number[];
  maxGap: number;
  keyframes: number[];
}

/** Decodes a joined rung: frame count, presentation times (ticks), keyframe indices. */
async function decodeJoined(file: string): Promise<JoinFacts> {
  const json = await ffprobe([
    ...[
      "-select_streams",
      "v:0",
      "-show_entries",
      "frame=best_effort_timestamp,key_frame",
      "-of",
      "json",
      file,
    ],
  ]);
  const frames = (JSON.parse(json) as { frames: { best_effort_timestamp: number; key_frame: number }[] })
    .frames;
  const pts = frames.map((f) => f.best_effort_timestamp);
  const keyframes = frames.flatMap((f, i) => (f.key_frame === 1 ? [i] : []));
  let maxGap = 0;
  for (let i = 1; i < pts.length; i++) maxGap = Math.max(maxGap, (pts[i] as number) - (pts[i - 1] as number));
  return { frames: frames.length, pts, maxGap, keyframes };
}

interface CaseResult {
  plan: ChunkPlan;
  dir: string;
  results: ChunkResult[];
  inits: Buffer[][];
  chunkedMs: number;
  singleMs: number;
  joined: Record<string, JoinFacts>;
  ssimChunked: number;
  ssimSingle: number;
  /** Per-frame SSIM against the source, chunked and single-pass. */
  framesChunked: number[];
  framesSingle: number[];
}

/** Encodes every chunk, then a single-pass reference with the same settings, and measures the joins. */
async function runCase(o: {
  size: string;
  rate: string;
  fps: Rational;
  seconds: number;
  rungs: PlannedRung[];
  chunkSeconds: number;
}): Promise<CaseResult> {
  const dir = await mkdtemp(join(tmpdir(), "streamlet-chunks-"));
  const source = join(dir, "source.mp4");
  await makeSource(source, o.size, o.rate, o.seconds);
  const plan = planChunks({ durationSeconds: o.seconds, fps: o.fps, chunkSeconds: o.chunkSeconds });
  const outDir = join(dir, "out");

  const started = Date.now();
  const results: ChunkResult[] = [];
  const inits: Buffer[][] = [];
  for (const chunk of plan.chunks) {
    // Chunk 1 publishes the inits; every later chunk must produce the same bytes.
    const expectedInits =
      results.length === 0
        ? undefined
        : Object.fromEntries(o.rungs.map((r, i) => [r.name, inits[0]?.[i] as Buffer]));
    const result = await encodeChunk({
      input: source,
      outDir,
      rungs: o.rungs,
      encoder: ENCODER,
      plan,
      chunk: chunk.index,
      expectedInits,
    });
    results.push(result);
    inits.push(await Promise.all(result.rungs.map((r) => readFile(r.initPath))));
  }
  const chunkedMs = Date.now() - started;

  // The same settings in one run: one "chunk" covering the whole video.
  const top = o.rungs[0] as PlannedRung;
  const single = join(dir, "single.mp4");
  const whole = {
    ...(plan.chunks[0] as (typeof plan.chunks)[number]),
    frameCount: plan.totalFrames,
    keyframes: plan.keyframes,
  };
  const singleStart = Date.now();
  await runFfmpeg(
    buildChunkArgs({
      input: source,
      outputs: [single],
      rungs: [top],
      fps: o.fps,
      encoder: ENCODER,
      chunk: whole,
    }),
  );
  const singleMs = Date.now() - singleStart;

  const joined: Record<string, JoinFacts> = {};
  for (const r of o.rungs)
    joined[r.name] = await decodeJoined(await joinRung(join(outDir, r.name), join(dir, `${r.name}.mp4`)));
  const chunked = await ssim(join(dir, `${top.name}.mp4`), source, join(dir, "chunked.ssim"));
  const one = await ssim(single, source, join(dir, "single.ssim"));
  return {
    plan,
    dir,
    results,
    inits,
    chunkedMs,
    singleMs,
    joined,
    ssimChunked: chunked.all,
    ssimSingle: one.all,
    framesChunked: chunked.frames,
    framesSingle: one.frames,
  };
}

/** The assertions every case shares. */
function checkJoins(c: CaseResult, o: { rungs: PlannedRung[]; fps: Rational; expectedFrames: number }) {
  const { frameTicks } = chunkTimescale(o.fps);
  expect(c.plan.totalFrames).toBe(o.expectedFrames);
  for (const r of o.rungs) {
    const j = c.joined[r.name] as JoinFacts;
    // Every frame decodes once, in order, one frame apart (the demuxer may shift all of them alike).
    expect(j.frames).toBe(o.expectedFrames);
    for (let i = 1; i < j.pts.length; i++)
      expect((j.pts[i] as number) - (j.pts[i - 1] as number)).toBe(frameTicks);
    expect(j.maxGap).toBe(frameTicks);
    expect(j.keyframes).toEqual(c.plan.keyframes);
  }
  // The same source frame on both sides of every join: a frame taken twice or skipped at a chunk start
  // would pair with the wrong source frame and drop that frame's SSIM far below the rest.
  expect(c.framesChunked).toHaveLength(o.expectedFrames);
  const floor = Math.min(...c.framesSingle) - 0.02;
  for (const chunk of c.plan.chunks.slice(1)) {
    expect(c.framesChunked[chunk.startFrame - 1]).toBeGreaterThan(floor);
    expect(c.framesChunked[chunk.startFrame]).toBeGreaterThan(floor);
  }
  // One init per rung, byte-identical across chunks.
  for (const inits of c.inits) {
    for (const [i, init] of inits.entries()) expect(init.equals(c.inits[0]?.[i] as Buffer)).toBe(true);
  }
  expect(c.results.slice(1).every((r) => r.rungs.every((x) => x.initMatches === true))).toBe(true);
}

/** Each written segment, read back: its fragments' times and frame counts against the plan. */
async function checkSegments(c: CaseResult, fps: Rational) {
  const { frameTicks, timescale } = chunkTimescale(fps);
  for (const result of c.results) {
    for (const r of result.rungs) {
      const track = readTrackInfo(await readFile(r.initPath));
      expect(track.timescale).toBe(timescale);
      for (const s of r.segments) {
        const planned = c.plan.segments[s.index - 1];
        const bytes = await readFile(s.path);
        expect(bytes.length).toBe(s.bytes);
        expect(s.durationSeconds).toBe(planned?.durationSeconds);
        const boxes = readBoxes(bytes);
        const frags = boxes
          .filter((b) => b.type === "moof")
          .map((b) => {
            const mdat = boxes[boxes.indexOf(b) + 1];
            return readFragment(bytes.subarray(b.start, mdat?.end), track);
          });
        const first = frags[0];
        // The segment's first frame is presented (MSE: tfdt + signed offset) exactly at its planned start.
        expect(first?.baseMediaDecodeTime).toBe(BigInt((planned?.startFrame ?? -1) * frameTicks));
        expect(first?.earliestPresentation).toBe(first?.baseMediaDecodeTime);
        expect(frags.reduce((n, f) => n + f.sampleCount, 0)).toBe(planned?.frameCount);
        expect(frags.every((f) => f.sync[0])).toBe(true);
      }
    }
  }
  // mfhd sequence numbers run 1..N across the rung.
  const seqs: number[] = [];
  for (const result of c.results) {
    for (const s of result.rungs[0]?.segments ?? []) {
      const bytes = await readFile(s.path);
      for (const b of readBoxes(bytes).filter((x) => x.type === "moof")) {
        seqs.push(bytes.readUInt32BE(bytes.indexOf("mfhd", b.start, "latin1") + 8));
      }
    }
  }
  expect(seqs).toEqual(c.plan.keyframes.map((_, i) => i + 1));
}

function report(name: string, c: CaseResult) {
  const joinsAt = c.plan.chunks
    .slice(1)
    .map(
      (k) =>
        `${k.startFrame}:${c.framesChunked[k.startFrame - 1]?.toFixed(3)}/${c.framesChunked[k.startFrame]?.toFixed(3)}`,
    );
  const joins = Object.entries(c.joined).map(
    ([k, j]) => `${k}: ${j.frames} frames, first pts ${j.pts[0]}, max gap ${j.maxGap} ticks`,
  );
  console.log(
    `[chunks] ${name}: ${c.plan.chunks.length} chunks, ${c.plan.segments.length} segments; ${joins.join("; ")}; ` +
      `SSIM chunked ${c.ssimChunked.toFixed(5)} vs single ${c.ssimSingle.toFixed(5)} (delta ${(c.ssimSingle - c.ssimChunked).toFixed(5)}); ` +
      `per-frame SSIM around joins ${joinsAt.join(" ")} (single-pass min ${Math.min(...c.framesSingle).toFixed(3)}); ` +
      `encode chunked ${c.chunkedMs} ms, single ${c.singleMs} ms`,
  );
}

describe("real ffmpeg: chunked encode joins into one continuous rung", { timeout: 120_000 }, () => {
  const rungs = [rung(360, 640, 800), rung(180, 320, 250)];
  const fps = { num: 30, den: 1 };
  let c: CaseResult;

  beforeAll(async () => {
    c = await runCase({ size: "640x360", rate: "30", fps, seconds: 20, rungs, chunkSeconds: 12 });
    report("20 s 640x360@30, 2 rungs", c);
  }, 120_000);
  afterAll(async () => {
    if (c) await rm(c.dir, { recursive: true, force: true });
  });

  it("plans 5 chunks with a 1 s first segment", () => {
    expect(c.plan.chunks.map((k) => k.segmentCount)).toEqual([1, 3, 1, 1, 1]);
    expect(c.plan.segments.map((s) => s.frameCount)).toEqual([30, 30, 60, 60, 180, 180, 60]);
  });

  it("decodes every frame once, in order, without gaps, under one init per rung", () => {
    checkJoins(c, { rungs, fps, expectedFrames: 600 });
  });

  it("writes the planned segments, each starting at its planned time on a keyframe", async () => {
    await checkSegments(c, fps);
    expect(c.results.flatMap((r) => r.rungs[0]?.segments.map((s) => s.index))).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it("matches a single-pass encode's quality", () => {
    expect(Math.abs(c.ssimSingle - c.ssimChunked)).toBeLessThanOrEqual(0.005);
  });

  it("keeps a last chunk the source ends a few frames early in, with a shorter last segment", async () => {
    const chunk = c.plan.chunks.at(-1) as (typeof c.plan.chunks)[number];
    const out = join(c.dir, "last-short.mp4");
    const args = buildChunkArgs({
      input: join(c.dir, "source.mp4"),
      outputs: [out],
      rungs: [rungs[1] as PlannedRung],
      fps,
      encoder: ENCODER,
      chunk,
    });
    args.splice(args.indexOf("-frames:v") + 1, 1, String(chunk.frameCount - 5));
    await runFfmpeg(args);
    const { segments } = cutChunk(await readFile(out), c.plan, chunk);
    const planned = c.plan.segments.slice(
      chunk.firstSegment - 1,
      chunk.firstSegment - 1 + chunk.segmentCount,
    );
    expect(segments.map((s) => s.index)).toEqual(planned.map((s) => s.index));
    const lastPlanned = planned.at(-1) as (typeof planned)[number];
    expect(segments.at(-1)?.durationSeconds).toBeCloseTo(lastPlanned.durationSeconds - 5 / 30, 6);
  });

  it("fails a chunk whose output is not what the plan says", async () => {
    const chunk = c.plan.chunks[1] as (typeof c.plan.chunks)[number];
    const source = join(c.dir, "source.mp4");
    const short = join(c.dir, "short.mp4");
    const args = buildChunkArgs({
      input: source,
      outputs: [short],
      rungs: [rungs[1] as PlannedRung],
      fps,
      encoder: ENCODER,
      chunk,
    });
    args.splice(args.indexOf("-frames:v") + 1, 1, String(chunk.frameCount - 1));
    await runFfmpeg(args);
    const shortFile = await readFile(short);
    // Short anywhere but at the very end: the file holds less than it claims.
    expect(() => cutChunk(shortFile, c.plan, chunk)).toThrow(/incomplete or truncated.*149 of 150 frames/);
    // Cut as the wrong chunk: its fragments don't sit where that chunk's keyframes are.
    const other = c.plan.chunks[2] as (typeof c.plan.chunks)[number];
    expect(() => cutChunk(shortFile, c.plan, { ...other, frameCount: 149 })).toThrow(/planned keyframes/);
    // An init that differs from the published one fails the chunk.
    await expect(
      encodeChunk({
        input: source,
        outDir: join(c.dir, "bad"),
        rungs: [rungs[1] as PlannedRung],
        encoder: ENCODER,
        plan: c.plan,
        chunk: 2,
        expectedInits: { "180p": Buffer.from("not the init") },
      }),
    ).rejects.toThrow(/init differs/);
  });
});

describe("real ffmpeg: chunks at 30000/1001", { timeout: 120_000 }, () => {
  const rungs = [rung(240, 426, 400), rung(120, 214, 150)];
  const fps = { num: 30000, den: 1001 };
  let c: CaseResult;

  beforeAll(async () => {
    c = await runCase({ size: "426x240", rate: "30000/1001", fps, seconds: 13.3, rungs, chunkSeconds: 6 });
    report("13.3 s 426x240@29.97, 2 rungs", c);
  }, 120_000);
  afterAll(async () => {
    if (c) await rm(c.dir, { recursive: true, force: true });
  });

  it("joins frame-exactly with a 90 kHz timescale (3003 ticks a frame)", async () => {
    expect(chunkTimescale(fps)).toEqual({ timescale: 90_000, frameTicks: 3003 });
    checkJoins(c, { rungs, fps, expectedFrames: 399 });
    await checkSegments(c, fps);
    expect(Math.abs(c.ssimSingle - c.ssimChunked)).toBeLessThanOrEqual(0.005);
  });

  it("puts keyframes where encoder.ts's force_key_frames puts them in a one-pass encode, plus one at 1 s", async () => {
    const source = join(c.dir, "source.mp4");
    const out = join(c.dir, "reference.mp4");
    const tiny = rung(90, 160, 100);
    const enc = createEncoder({ kind: "x264", preset: "ultrafast" });
    await runFfmpeg([
      ...["-v", "error", "-y", "-i", source, "-filter_complex", buildFilterGraph([tiny], fps, enc.spec)],
      ...["-map", "[v0]", ...enc.videoArgs(tiny, 0, fps), "-an", out],
    ]);
    const flags = (
      await ffprobe(["-select_streams", "v:0", "-show_entries", "packet=pts,flags", "-of", "csv=p=0", out])
    )
      .split("\n")
      .map((l) => l.split(","))
      .sort((a, b) => Number(a[0]) - Number(b[0]));
    const keyframes = flags.flatMap((f, i) => (f[1]?.startsWith("K") ? [i] : []));
    // The plan's one addition: the keyframe that ends its 1-s first segment (segment 2 starts there).
    const oneSecond = c.plan.segments[1]?.startFrame;
    expect(oneSecond).toBe(30); // 29.97 frames: the first frame at or after 1 s
    expect(keyframes).toEqual(c.plan.keyframes.filter((k) => k !== oneSecond));
  });
});

describe("real ffmpeg: a source with a timestamp gap of hours", { timeout: 120_000 }, () => {
  // Two seconds of frames, then two more seconds 100 hours later: a crafted or broken file. The
  // whole-file checks refuse this one (too long, too sparse), but chunk 1 starts before they have
  // counted every packet, and one long gap inside hours of dense video passes the sparse check. A chunk
  // that starts in the gap must repeat the frame before it for its own slots and stop there: the fps
  // filter would otherwise walk every slot up to the next frame (10.8 million here; a 10-h gap took
  // 4.7-5.2 s a chunk without the clamp, 0.3-0.4 s with it).
  const fps = { num: 30, den: 1 };
  const rungs = [rung(180, 320, 300)];
  const GAP_SECONDS = 360_000;
  let dir: string;
  let source: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "streamlet-gap-"));
    source = join(dir, "gap.mkv");
    await exec("ffmpeg", [
      ...["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30:duration=4"],
      ...["-vf", `setpts='if(gte(N,60),PTS+${GAP_SECONDS}/TB,PTS)'`, "-fps_mode", "passthrough"],
      ...["-c:v", "libx264", "-preset", "ultrafast", "-g", "30", source],
    ]);
    const duration = Number(await ffprobe(["-show_entries", "format=duration", "-of", "csv=p=0", source]));
    expect(duration).toBeGreaterThan(GAP_SECONDS);
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("fills a chunk in the gap with the frame before it and stops at the chunk's end", async () => {
    const plan = planChunks({ durationSeconds: GAP_SECONDS + 4, fps, chunkSeconds: 6 });
    // Chunk 2 (1-6 s) runs into the gap at 2 s; chunk 4 (12-18 s) lies wholly inside it.
    for (const index of [2, 4]) {
      const chunk = plan.chunks[index - 1] as (typeof plan.chunks)[number];
      const result = await encodeChunk({
        input: source,
        outDir: join(dir, "out"),
        rungs,
        encoder: ENCODER,
        plan,
        chunk: index,
        // A bound, not a speed measurement: without the clamp this takes minutes and fails here.
        run: { timeoutMs: 20_000 },
      });
      const frames = result.rungs[0]?.segments.reduce((n, s) => n + Math.round(s.durationSeconds * 30), 0);
      expect(frames).toBe(chunk.frameCount);
    }
  });
});
