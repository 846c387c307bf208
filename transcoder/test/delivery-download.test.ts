/**
 * The download MP4 (delivery/download.ts) from a ladder published the way the worker publishes it:
 * video rungs encoded in chunks (negative composition offsets, no edit list) and the audio encoded once
 * (AAC priming in the init's edit list). The source flashes white and beeps at the same instants, so
 * the test can tell whether the copy kept the two in sync (FFmpeg's own defaults do not: they shift the
 * audio by its priming, or the video by its B-frame delay).
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeAudio } from "../src/media/audio.ts";
import { type ChunkResult, encodeChunk } from "../src/media/chunks/encode-chunk.ts";
import { readBoxes } from "../src/media/chunks/fmp4.ts";
import { planChunks } from "../src/media/chunks/plan.ts";
import { checkProgressive, remuxDownload } from "../src/media/delivery/download.ts";
import type { LocalTrack } from "../src/media/delivery/types.ts";
import type { PlannedRung } from "../src/media/ladder.ts";

const run = promisify(execFile);
const FPS = 30;
const SECONDS = 10;
/** Flash and beep instants. */
const MARKS = [2.5, 7.5];
const RUNGS: PlannedRung[] = [
  { name: "180p", width: 320, height: 180, videoBitrate: 400_000, maxBitrate: 600_000, bufsize: 1_200_000 },
  { name: "90p", width: 160, height: 90, videoBitrate: 100_000, maxBitrate: 150_000, bufsize: 300_000 },
];
const OPTIONS = { timeoutMs: 60_000 };

let dir: string;
let video: LocalTrack;
let audio: LocalTrack;

async function makeSource(file: string) {
  const flash = `eq(mod(n\\,${5 * FPS})\\,${2.5 * FPS})`;
  const beep = "0.5*sin(2*PI*1000*t)*gte(mod(t\\,5)\\,2.5)*lt(mod(t\\,5)\\,2.6)";
  await run("ffmpeg", [
    ...["-v", "error", "-y", "-f", "lavfi"],
    ...["-i", `testsrc2=s=320x180:r=${FPS},drawbox=w=iw:h=ih:color=white:t=fill:enable='${flash}'`],
    ...["-f", "lavfi", "-i", `aevalsrc='${beep}':s=48000`, "-t", String(SECONDS)],
    ...["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", file],
  ]);
}

/** Encodes the ladder in chunks and the audio once, as the worker does; returns the tracks. */
async function publish(source: string, out: string) {
  const plan = planChunks({ durationSeconds: SECONDS, fps: { num: FPS, den: 1 } });
  const results: ChunkResult[] = [];
  for (const chunk of plan.chunks) {
    results.push(
      await encodeChunk({
        input: source,
        outDir: out,
        rungs: RUNGS,
        encoder: { kind: "x264", preset: "veryfast" },
        plan,
        chunk: chunk.index,
      }),
    );
  }
  const rung = (name: string): LocalTrack => {
    const parts = results.map((r) => r.rungs.find((x) => x.rung === name));
    const segments = parts.flatMap((p) => p?.segments ?? []);
    return {
      name,
      initPath: parts[0]?.initPath as string,
      segmentPaths: segments.map((s) => s.path),
      durations: segments.map((s) => s.durationSeconds),
    };
  };
  const encoded = await encodeAudio({ input: source, outDir: out });
  const audioTrack: LocalTrack = {
    name: "audio",
    initPath: encoded.initPath,
    segmentPaths: encoded.segments.map((s) => s.path),
    durations: encoded.segments.map((s) => s.durationSeconds),
  };
  return { video: rung("180p"), audio: audioTrack };
}

async function probe(file: string, extra: string[] = []) {
  const { stdout } = await run("ffprobe", [
    ...["-v", "error", ...extra, "-count_frames", "-show_streams", "-show_format", "-of", "json", file],
  ]);
  return JSON.parse(stdout) as {
    streams: { codec_type: string; profile?: string; level?: number; nb_read_frames?: string }[];
    format: { duration: string };
  };
}

/** Times (s) of the frames that are mostly white, and of the 1-ms audio blocks where a beep starts. */
async function marks(file: string): Promise<{ flashes: number[]; beeps: number[] }> {
  const print = (filter: string, key: string, map: string) =>
    run("ffmpeg", ["-v", "error", "-i", file, "-map", map, filter, key, "-f", "null", "-"], {
      maxBuffer: 64 * 1024 * 1024,
    }).then((r) => r.stdout);
  const pairs = (text: string) =>
    [...text.matchAll(/pts_time:([\d.]+)\s*\n[^=]+=(-?[\d.]+|-inf)/g)].map((m) => ({
      t: Number(m[1]),
      v: m[2] === "-inf" ? Number.NEGATIVE_INFINITY : Number(m[2]),
    }));
  const video = pairs(
    await print("-vf", "signalstats,metadata=print:key=lavfi.signalstats.YAVG:file=-", "0:v:0"),
  );
  const audio = pairs(
    await print(
      "-af",
      "asetnsamples=n=48,astats=metadata=1:reset=1,ametadata=print:key=lavfi.astats.Overall.Peak_level:file=-",
      "0:a:0",
    ),
  );
  const flashes = video.filter((f) => f.v > 200).map((f) => f.t);
  const beeps = audio.filter((a, i) => a.v > -20 && (audio[i - 1]?.v ?? -100) <= -20).map((a) => a.t);
  return { flashes, beeps };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "streamlet-download-"));
  const source = join(dir, "source.mp4");
  await makeSource(source);
  ({ video, audio } = await publish(source, join(dir, "out")));
}, 120_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("remuxDownload", () => {
  let outFile: string;
  let result: { bytes: number; durationSeconds: number };
  let wallMs: number;

  beforeAll(async () => {
    outFile = join(dir, "video.mp4");
    const started = Date.now();
    result = await remuxDownload({ video, audio, outFile }, OPTIONS);
    wallMs = Date.now() - started;
    console.log(`remuxDownload: ${SECONDS} s of 180p + audio in ${wallMs} ms, ${result.bytes} bytes`);
  }, 60_000);

  it("writes a progressive MP4: moov before mdat, no moof", async () => {
    const bytes = await readFile(outFile);
    const types = readBoxes(bytes).map((b) => b.type);
    expect(types.indexOf("moov")).toBeGreaterThanOrEqual(0);
    expect(types.indexOf("moov")).toBeLessThan(types.indexOf("mdat"));
    expect(types).not.toContain("moof");
    expect(result.bytes).toBe(bytes.length);
  });

  it("returns ffprobe's duration, within 0.1 s of the source", async () => {
    const facts = await probe(outFile);
    expect(result.durationSeconds).toBeCloseTo(Number(facts.format.duration), 6);
    expect(Math.abs(result.durationSeconds - SECONDS)).toBeLessThan(0.1);
  }, 30_000);

  it("copies the rung's video (same profile, level and frame count) and carries the audio", async () => {
    const list = join(dir, "rung.txt");
    const { writeTrackList } = await import("../src/media/delivery/download.ts");
    await writeTrackList(video, list);
    const rung = await probe(`concatf:${list}`, ["-protocol_whitelist", "concatf,file"]);
    const out = await probe(outFile);
    const rungVideo = rung.streams[0];
    const outVideo = out.streams.find((s) => s.codec_type === "video");
    expect(out.streams.map((s) => s.codec_type).sort()).toEqual(["audio", "video"]);
    expect(outVideo?.profile).toBe(rungVideo?.profile);
    expect(outVideo?.level).toBe(rungVideo?.level);
    expect(outVideo?.nb_read_frames).toBe(rungVideo?.nb_read_frames);
    expect(Number(outVideo?.nb_read_frames)).toBe(SECONDS * FPS);
  }, 30_000);

  it("plays: ffmpeg decodes it without a single error", async () => {
    const { stderr } = await run("ffmpeg", ["-v", "error", "-i", outFile, "-f", "null", "-"]);
    expect(stderr).toBe("");
  }, 30_000);

  it("keeps sound and picture in sync: every beep starts within a frame of its flash", async () => {
    const { flashes, beeps } = await marks(outFile);
    expect(flashes).toHaveLength(MARKS.length);
    expect(beeps).toHaveLength(MARKS.length);
    for (const [i, mark] of MARKS.entries()) {
      expect(Math.abs((flashes[i] as number) - mark)).toBeLessThan(0.5 / FPS);
      expect(Math.abs((beeps[i] as number) - mark)).toBeLessThan(0.005);
    }
  }, 60_000);

  it("writes video alone when there is no audio", async () => {
    const silent = join(dir, "silent.mp4");
    const r = await remuxDownload({ video, audio: null, outFile: silent }, OPTIONS);
    const facts = await probe(silent);
    expect(facts.streams.map((s) => s.codec_type)).toEqual(["video"]);
    expect(Math.abs(r.durationSeconds - SECONDS)).toBeLessThan(0.1);
  }, 30_000);
});

describe("checkProgressive", () => {
  it("accepts moov first, refuses moov last and fragments", () => {
    expect(() => checkProgressive(["ftyp", "moov", "mdat"])).not.toThrow();
    expect(() => checkProgressive(["ftyp", "mdat", "moov"])).toThrow(/after the mdat/);
    expect(() => checkProgressive(["ftyp", "moov", "moof", "mdat"])).toThrow(/fragmented/);
    expect(() => checkProgressive(["ftyp", "moov"])).toThrow(/lacks mdat/);
  });
});
