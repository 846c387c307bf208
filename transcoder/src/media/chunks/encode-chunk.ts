import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { INIT_SEGMENT, segmentName } from "@streamlet/shared";
import { sourceInputArgs } from "../confine.ts";
import { createEncoder, type EncoderSpec, type SourceFacts } from "../encoder.ts";
import { BadMediaError } from "../errors.ts";
import type { PlannedRung } from "../ladder.ts";
import { BAD_MEDIA } from "../probe.ts";
import { formatRational, type Rational } from "../rational.ts";
import { type RunFfmpegOptions, runFfmpeg } from "../run-ffmpeg.ts";
import {
  type FragmentInfo,
  readFragment,
  readTrackInfo,
  restampFragment,
  splitFragmentedMp4,
} from "./fmp4.ts";
import { type ChunkPlan, frameSeconds, type PlannedChunk } from "./plan.ts";

/**
 * Encodes one chunk of every rung in ONE ffmpeg process (decode once, split, scale per rung) into one
 * fragmented MP4 per rung, then re-stamps its fragments onto the video's timeline and writes them as
 * the plan's final HLS segments (<outDir>/<rung>/seg_NNNNN.m4s) plus the rung's init.mp4. Chunks
 * encoded apart (other processes, other nodes) join without any stitching step.
 */

/** Decoded ahead of a chunk's start so the fps filter picks the same source frame for its first slot. */
export const SEEK_MARGIN_SECONDS = 1;
/** Frames later than this past a chunk's end are clamped to it (see buildChunkArgs). */
export const CLAMP_MARGIN_SECONDS = 1;
/** MPEG's 90 kHz clock: the track timescale is the least multiple of it that counts every frame in whole ticks. */
const BASE_TIMESCALE = 90_000;
const MAX_TIMESCALE = 0x7fffffff;

/** A chunk's output is not what its plan says (frame count, keyframes, init): the chunk must not be used. */
export class ChunkOutputError extends Error {
  override name = "ChunkOutputError";
}

/** Track timescale and frame duration in ticks: lcm(fps.num, 90000), so frame k starts at k x frameTicks. */
export function chunkTimescale(fps: Rational): { timescale: number; frameTicks: number } {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const lcm = (fps.num / gcd(fps.num, BASE_TIMESCALE)) * BASE_TIMESCALE;
  const timescale = lcm <= MAX_TIMESCALE ? lcm : fps.num;
  return { timescale, frameTicks: (fps.den * timescale) / fps.num };
}

/** force_key_frames for a chunk: its planned keyframes by encoded frame number, exact at any rate. */
export function chunkKeyframeExpr(chunk: PlannedChunk): string {
  return `expr:${chunk.keyframes.map((k) => `eq(n,${k})`).join("+")}`;
}

/** Seconds with microsecond precision, as ffmpeg parses them. */
const seconds = (s: number) => s.toFixed(6);

export interface ChunkArgsInput {
  input: string;
  /** One output file per rung, in rung order. */
  outputs: string[];
  facts?: SourceFacts;
  rungs: PlannedRung[];
  fps: Rational;
  encoder: EncoderSpec;
  chunk: PlannedChunk;
  maxPixels?: number;
}

/**
 * ffmpeg argv for one chunk of every rung (without the binary). Timestamps stay the source's
 * (-copyts) up to the fps filter, which starts its grid at the chunk's first slot exactly as the
 * whole-video encode would fill it; then they restart at 0 for the encoders and muxers.
 */
export function buildChunkArgs(a: ChunkArgsInput): string[] {
  if (a.rungs.length === 0) throw new Error("buildChunkArgs needs at least one rung");
  if (a.outputs.length !== a.rungs.length) throw new Error("buildChunkArgs needs one output per rung");
  const enc = createEncoder(a.encoder);
  const rate = formatRational(a.fps);
  const head = enc.headFilter(a.fps, a.facts);
  const fpsFilter = `fps=${rate}`;
  if (!head.startsWith(fpsFilter))
    throw new Error(`encoder head filter must start with ${fpsFilter}: ${head}`);
  const start = a.chunk.startSeconds;
  // A frame far past the chunk is clamped to just past its end: the fps filter fills the slots up to
  // the next frame's time, so a source with a timestamp gap of hours (two frames ten hours apart) would
  // otherwise have it invent hours of frames before the outputs' frame counts stop it. Frames before the
  // clamp keep their times, so every slot of the chunk gets the frame it gets without it.
  const clampAt = start + frameSeconds(a.chunk.frameCount, a.fps) + CLAMP_MARGIN_SECONDS;
  const clamp = `setpts='min(PTS,${seconds(clampAt)}/TB)'`;
  const timed = `${clamp},${fpsFilter}:start_time=${seconds(start)}${head.slice(fpsFilter.length)},setpts=PTS-STARTPTS`;
  const pads = a.rungs.map((_, i) => `[s${i}]`).join("");
  const split = a.rungs.length === 1 ? "" : `,split=${a.rungs.length}${pads}`;
  const graph =
    a.rungs.length === 1
      ? `[0:v:0]${timed},${enc.scaleFilter((a.rungs[0] as PlannedRung).width, (a.rungs[0] as PlannedRung).height)}[v0]`
      : [
          `[0:v:0]${timed}${split}`,
          ...a.rungs.map((r, i) => `[s${i}]${enc.scaleFilter(r.width, r.height)}[v${i}]`),
        ].join(";");
  const { timescale } = chunkTimescale(a.fps);
  const keyframes = chunkKeyframeExpr(a.chunk);
  const seek = Math.max(0, start - SEEK_MARGIN_SECONDS);
  const outputs = a.rungs.flatMap((rung, i) => {
    const video = enc.videoArgs(rung, 0, a.fps);
    const forced = video.indexOf("-force_key_frames:v:0");
    if (forced >= 0) video.splice(forced, 2, "-force_key_frames:v:0", keyframes);
    else video.push("-force_key_frames:v:0", keyframes);
    return [
      "-map",
      `[v${i}]`,
      ...video,
      "-frames:v",
      String(a.chunk.frameCount),
      "-an",
      "-sn",
      "-dn",
      "-map_metadata",
      "-1",
      "-map_chapters",
      "-1",
      // Identical settings in every chunk give a byte-identical init (MEDIA.md, chunked encoding).
      "-fflags",
      "+bitexact",
      "-flags:v",
      "+bitexact",
      "-video_track_timescale",
      String(timescale),
      "-use_editlist",
      "0",
      "-movflags",
      "+frag_keyframe+empty_moov+default_base_moof",
      "-f",
      "mp4",
      a.outputs[i] as string,
    ];
  });
  return [
    "-hide_banner",
    "-nostdin",
    ...sourceInputArgs(a.maxPixels, a.input),
    "-y",
    ...enc.inputArgs(a.facts),
    ...(seek > 0 ? ["-ss", seconds(seek)] : []),
    "-copyts",
    "-start_at_zero",
    "-i",
    a.input,
    "-filter_complex",
    graph,
    ...outputs,
  ];
}

/** One written media segment. */
export interface ChunkSegment {
  /** Segment number (seg_NNNNN.m4s). */
  index: number;
  path: string;
  durationSeconds: number;
  bytes: number;
}

export interface ChunkRungResult {
  rung: string;
  initPath: string;
  /** Whether init.mp4 equals the expected init byte for byte; null when none was given. */
  initMatches: boolean | null;
  segments: ChunkSegment[];
}

export interface ChunkResult {
  chunk: number;
  rungs: ChunkRungResult[];
}

export interface EncodeChunkInput {
  input: string;
  /** Receives <rung>/init.mp4 and <rung>/seg_NNNNN.m4s (and a scratch folder while it runs). */
  outDir: string;
  facts?: SourceFacts;
  /** Tallest first, the same list for every chunk of the video. */
  rungs: PlannedRung[];
  encoder: EncoderSpec;
  plan: ChunkPlan;
  /** Chunk number in plan.chunks (from 1). */
  chunk: number;
  maxPixels?: number;
  /** The rung's init as already published (e.g. by chunk 1): a different one fails the chunk. */
  expectedInits?: Readonly<Record<string, Buffer>>;
  /** Passed to runFfmpeg (signal, watchdog, deadline, progress); durationSeconds is the chunk's. */
  run?: Omit<RunFfmpegOptions, "durationSeconds">;
}

/** Encodes one planned chunk of every rung and writes its final segments; throws ChunkOutputError on a mismatch. */
export async function encodeChunk(input: EncodeChunkInput): Promise<ChunkResult> {
  const chunk = input.plan.chunks[input.chunk - 1];
  if (!chunk) throw new Error(`chunk ${input.chunk} is not in the plan (${input.plan.chunks.length} chunks)`);
  if (input.rungs.some((r) => !/^[\w-]+$/.test(r.name))) throw new Error("rung names must be folder-safe");
  const scratch = join(input.outDir, `.chunk-${chunk.index}`);
  await mkdir(scratch, { recursive: true });
  try {
    const outputs = input.rungs.map((_, i) => join(scratch, `rung${i}.mp4`));
    const args = buildChunkArgs({
      input: input.input,
      outputs,
      facts: input.facts,
      rungs: input.rungs,
      fps: input.plan.fps,
      encoder: input.encoder,
      chunk,
      maxPixels: input.maxPixels,
    });
    await runFfmpeg(args, { ...input.run, durationSeconds: frameSeconds(chunk.frameCount, input.plan.fps) });
    const rungs: ChunkRungResult[] = [];
    for (const [i, rung] of input.rungs.entries()) {
      const file = await readFile(outputs[i] as string);
      const dir = join(input.outDir, rung.name);
      rungs.push(
        await writeRungSegments(file, dir, rung.name, input.plan, chunk, input.expectedInits?.[rung.name]),
      );
    }
    return { chunk: chunk.index, rungs };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** A rung's chunk, cut and re-stamped: the init and each planned segment's bytes. */
export interface ChunkSegmentsBytes {
  init: Buffer;
  segments: { index: number; bytes: Buffer; durationSeconds: number }[];
}

/**
 * Checks one rung's chunk MP4 against the plan and turns it into final segments: fragments must start
 * exactly on the chunk's planned keyframes with IDRs, every frame must last one frame, and the frame
 * count must be the chunk's. Each fragment then gets its place on the video's timeline (tfdt = its
 * first frame x frameTicks), the encoder's B-frame delay is taken out of the composition offsets (so a
 * GOP's first frame is presented at its decode time, where the separately encoded audio expects it),
 * and mfhd sequence numbers continue across the rung.
 */
export function cutChunk(
  file: Buffer,
  plan: ChunkPlan,
  chunk: PlannedChunk,
  rung = "rung",
): ChunkSegmentsBytes {
  const fail = (why: string) => {
    throw new ChunkOutputError(`chunk ${chunk.index}, rung ${rung}: ${why}`);
  };
  const { timescale, frameTicks } = chunkTimescale(plan.fps);
  const { init, fragments } = splitFragmentedMp4(file);
  const track = readTrackInfo(init);
  if (track.timescale !== timescale) fail(`track timescale ${track.timescale}, expected ${timescale}`);
  const infos = fragments.map((f) => readFragment(f, track));
  const frames = infos.reduce((n, f) => n + f.sampleCount, 0);
  // The source ran out early. At the very end that is the probed duration's rounding (or a container
  // duration a little past the video's): the last chunk keeps what there is. Anywhere else the file
  // holds less than it claims.
  const last = chunk.index === plan.chunks.length;
  if (frames < chunk.frameCount && (!last || frames === 0)) {
    throw new BadMediaError(
      `${BAD_MEDIA.truncated}: ${frames} of ${chunk.frameCount} frames from ${chunk.startSeconds.toFixed(1)} s`,
    );
  }
  if (frames > chunk.frameCount) fail(`${frames} frames encoded, the plan says ${chunk.frameCount}`);

  const starts: number[] = [];
  let at = 0;
  for (const info of infos) {
    starts.push(at);
    at += info.sampleCount;
  }
  const plannedStarts =
    frames < chunk.frameCount ? chunk.keyframes.filter((k) => k < frames) : chunk.keyframes;
  if (starts.join(",") !== plannedStarts.join(",")) {
    fail(`fragments start at frames ${starts.join(",")}, planned keyframes are ${chunk.keyframes.join(",")}`);
  }
  const first = infos[0] as FragmentInfo;
  const decodeZero = first.baseMediaDecodeTime;
  const shift = Number(first.earliestPresentation - decodeZero);
  infos.forEach((info, k) => {
    if (!info.sync[0]) fail(`fragment ${k + 1} does not start with a keyframe`);
    if (info.durations.some((d) => d !== frameTicks))
      fail(`fragment ${k + 1} has frames not ${frameTicks} ticks long`);
    const expected = decodeZero + BigInt((starts[k] as number) * frameTicks);
    if (info.baseMediaDecodeTime !== expected)
      fail(`fragment ${k + 1} decodes at ${info.baseMediaDecodeTime}, not ${expected}`);
  });

  const restamped = fragments.map((fragment, k) => {
    const startFrame = chunk.startFrame + (starts[k] as number);
    const out = restampFragment(fragment, {
      sequenceNumber: chunk.firstFragment + k,
      baseMediaDecodeTime: BigInt(startFrame) * BigInt(frameTicks),
      compositionShift: shift,
    });
    const check = readFragment(out, track);
    if (check.earliestPresentation !== check.baseMediaDecodeTime) {
      fail(`fragment ${k + 1}'s first frame is not its earliest (open GOP?)`);
    }
    return { startFrame, bytes: out };
  });

  const endFrame = chunk.startFrame + frames;
  const segments = plan.segments
    .slice(chunk.firstSegment - 1, chunk.firstSegment - 1 + chunk.segmentCount)
    .filter((segment) => segment.startFrame < endFrame);
  const cut = segments.map((segment) => {
    const end = Math.min(segment.startFrame + segment.frameCount, endFrame);
    const parts = restamped.filter((r) => r.startFrame >= segment.startFrame && r.startFrame < end);
    if (parts[0]?.startFrame !== segment.startFrame) fail(`no fragment starts segment ${segment.index}`);
    return {
      index: segment.index,
      bytes: Buffer.concat(parts.map((p) => p.bytes)),
      durationSeconds:
        end === segment.startFrame + segment.frameCount
          ? segment.durationSeconds
          : frameSeconds(end, plan.fps) - segment.startSeconds,
    };
  });
  return { init: Buffer.from(init), segments: cut };
}

async function writeRungSegments(
  file: Buffer,
  dir: string,
  rung: string,
  plan: ChunkPlan,
  chunk: PlannedChunk,
  expectedInit: Buffer | undefined,
): Promise<ChunkRungResult> {
  const { init, segments } = cutChunk(file, plan, chunk, rung);
  const initMatches = expectedInit === undefined ? null : init.equals(expectedInit);
  if (initMatches === false) {
    throw new ChunkOutputError(
      `chunk ${chunk.index}, rung ${rung}: its init differs from the rung's published init (encoder settings changed?)`,
    );
  }
  await mkdir(dir, { recursive: true });
  const initPath = join(dir, INIT_SEGMENT);
  await writeFile(initPath, init);
  const written: ChunkSegment[] = [];
  for (const s of segments) {
    const path = join(dir, segmentName(s.index));
    await writeFile(path, s.bytes);
    written.push({ index: s.index, path, durationSeconds: s.durationSeconds, bytes: s.bytes.length });
  }
  return { rung, initPath, initMatches, segments: written };
}
