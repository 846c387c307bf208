import { createWriteStream } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { finished } from "node:stream/promises";
import { Mp4FormatError, parseBox, readBoxes, readTrackInfo, type TrackInfo } from "../chunks/fmp4.ts";
import { BadMediaError } from "../errors.ts";
import { execTool, FfmpegDeadlineError, type ToolRun, toolRunError } from "../run-ffmpeg.ts";
import {
  type AvcConfig,
  accessUnitKind,
  hex2,
  PROFILE_IDC,
  parseSps,
  readAvcConfig,
  type SpsInfo,
  spsCodecString,
} from "./h264.ts";
import { type SegmentFragment, segmentFragments } from "./iframes.ts";
import type { DeliveryToolOptions, LocalLadder, LocalRung, LocalTrack } from "./types.ts";

/**
 * The checks a finished ladder must pass before its video may turn ready (Apple HLS authoring spec):
 * segment durations within the target, segments starting on IDRs, CODECS matching the stream, audio
 * and video starting together, and every track decoding without an error.
 */

/**
 * A published ladder failed a check: the output is deterministically wrong (a retry would encode the
 * same), so it is bad media for the job (no retry), with a reason naming the rung and segment.
 */
export class PublishCheckError extends BadMediaError {
  override name = "PublishCheckError";
  /** The track ("720p", "audio"). */
  readonly track: string;
  /** The segment number (from 1), when the failure is in one. */
  readonly segment: number | null;

  constructor(track: string, segment: number | null, message: string) {
    super(message);
    this.track = track;
    this.segment = segment;
  }
}

/** What the checks found in one track: for the log. */
export interface TrackCheck {
  name: string;
  segments: number;
  fragments: number;
  /** Presentation time of the first sample, edit list applied, seconds. */
  startSeconds: number;
  /** Sum of the samples' durations, seconds. */
  durationSeconds: number;
  /** Video frames (0 for audio) and media seconds the decode pass got through. */
  decodedFrames: number;
  decodedSeconds: number;
  decodeMs: number;
}

export interface LadderCheck {
  rungs: TrackCheck[];
  audio: TrackCheck | null;
  /** Audio start minus video start, seconds; null without audio. */
  audioOffsetSeconds: number | null;
  elapsedMs: number;
}

/** A segment may run this far past the target duration (Apple 7.7). */
export const TARGET_SLACK_SECONDS = 0.5;
/**
 * Audio and video may start this far apart: more than one AAC frame (21.3 ms at 48 kHz, the grid the
 * audio timeline is cut on and what the priming edit leaves), less than the ~45 ms audio lead that
 * viewers start to notice (ITU-R BT.1359).
 */
export const AV_START_TOLERANCE_SECONDS = 0.05;
/** AAC-LC samples per frame. */
const AAC_FRAME = 1024;

const secs = (s: number) => `${s.toFixed(3)} s`;

// ---------------------------------------------------------------------------------------------------
// Structure: durations, IDRs, start times

interface TrackFacts {
  name: string;
  init: Buffer;
  track: TrackInfo;
  /** Edit list offset: the presentation time of media time 0, seconds. */
  editSeconds: number;
  /** Each segment's first decode time and real duration, seconds. */
  segmentStarts: number[];
  segmentDurations: number[];
  fragments: number;
  samples: number;
  startSeconds: number;
  durationSeconds: number;
}

/**
 * Where media time 0 is presented (ISO/IEC 14496-12 8.6.6): empty edits delay it, the first real
 * edit's media_time starts presentation that far into the media (the AAC priming).
 */
function editOffsetSeconds(init: Buffer, timescale: number): number {
  const moovRef = readBoxes(init).find((b) => b.type === "moov");
  if (!moovRef) return 0;
  const moov = parseBox(init, moovRef);
  const mvhd = moov.children?.find((c) => c.type === "mvhd")?.payload;
  const movieTimescale = mvhd ? mvhd.readUInt32BE(mvhd[0] === 1 ? 20 : 12) : 1000;
  const trak = moov.children?.find((c) => c.type === "trak");
  const elst = trak?.children
    ?.find((c) => c.type === "edts")
    ?.children?.find((c) => c.type === "elst")?.payload;
  if (!elst) return 0;
  const wide = elst[0] === 1;
  const count = elst.readUInt32BE(4);
  let offset = 0;
  for (let i = 0, at = 8; i < count; i++, at += wide ? 20 : 12) {
    const duration = wide ? Number(elst.readBigUInt64BE(at)) : elst.readUInt32BE(at);
    const mediaTime = wide ? Number(elst.readBigInt64BE(at + 8)) : elst.readInt32BE(at + 4);
    if (mediaTime === -1) offset += duration / movieTimescale;
    else return offset - mediaTime / timescale;
  }
  return offset;
}

/**
 * Reads every segment of a track (sample durations from the fragments, not the playlist) and checks
 * durations against the target and the EXTINFs, and continuity of decode times. For video, also that
 * every fragment starts with a sync sample whose access unit is an IDR. Appends each segment's bytes
 * to `sink` (init first) for the decode pass.
 */
async function readTrack(
  t: LocalTrack,
  targetSeconds: number,
  video: { avc: AvcConfig; frameRate: number } | null,
  sink: NodeJS.WritableStream,
): Promise<TrackFacts> {
  const init = await readFile(t.initPath);
  const track = readTrackInfo(init);
  const editSeconds = editOffsetSeconds(init, track.timescale);
  if (t.segmentPaths.length === 0) throw new PublishCheckError(t.name, null, `${t.name} has no segments`);
  if (t.durations.length !== t.segmentPaths.length) {
    throw new PublishCheckError(
      t.name,
      null,
      `${t.name} lists ${t.durations.length} durations for ${t.segmentPaths.length} segments`,
    );
  }
  sink.write(init);
  // One frame: a video frame, or an AAC frame at the track's (sample rate) timescale.
  const frame = video ? 1 / video.frameRate : AAC_FRAME / track.timescale;
  const segmentStarts: number[] = [];
  const segmentDurations: number[] = [];
  let fragments = 0;
  let samples = 0;
  let nextDecode: bigint | null = null;
  let startSeconds = 0;
  for (const [i, path] of t.segmentPaths.entries()) {
    const n = i + 1;
    const fail = (why: string) => new PublishCheckError(t.name, n, `${t.name} segment ${n} ${why}`);
    const bytes = await readFile(path);
    let frags: SegmentFragment[];
    try {
      frags = segmentFragments(bytes, track);
    } catch (err) {
      if (err instanceof Mp4FormatError) throw fail(`is not a valid fMP4 segment: ${err.message}`);
      throw err;
    }
    if (frags.length === 0) throw fail("holds no fragments");
    let ticks = 0;
    for (const [k, f] of frags.entries()) {
      if (nextDecode !== null && f.info.baseMediaDecodeTime !== nextDecode) {
        const gap = Number(f.info.baseMediaDecodeTime - nextDecode) / track.timescale;
        throw fail(
          `does not continue where the previous fragment ended (${gap > 0 ? "gap" : "overlap"} of ${secs(Math.abs(gap))})`,
        );
      }
      nextDecode = f.info.baseMediaDecodeTime + BigInt(f.info.duration);
      ticks += f.info.duration;
      samples += f.info.sampleCount;
      if (i === 0 && k === 0)
        startSeconds = Number(f.info.earliestPresentation) / track.timescale + editSeconds;
      if (video) checkIdr(f, bytes, video.avc, k, fail);
    }
    fragments += frags.length;
    const seconds = ticks / track.timescale;
    const listed = t.durations[i] as number;
    if (seconds > targetSeconds + TARGET_SLACK_SECONDS + 1e-6) {
      throw fail(
        `lasts ${secs(seconds)}, more than the ${targetSeconds} s target + ${TARGET_SLACK_SECONDS} s`,
      );
    }
    if (Math.abs(seconds - listed) > frame + 1e-3) {
      throw fail(`lasts ${secs(seconds)} but its playlist says ${secs(listed)}`);
    }
    segmentStarts.push(Number((frags[0] as SegmentFragment).info.baseMediaDecodeTime) / track.timescale);
    segmentDurations.push(seconds);
    if (!sink.write(bytes)) await new Promise((resolve) => sink.once("drain", resolve));
  }
  return {
    name: t.name,
    init,
    track,
    editSeconds,
    segmentStarts,
    segmentDurations,
    fragments,
    samples,
    startSeconds,
    durationSeconds: segmentDurations.reduce((a, b) => a + b, 0),
  };
}

/** A fragment must start with a sample flagged sync whose access unit is an IDR (Apple 7.4). */
function checkIdr(
  f: SegmentFragment,
  bytes: Buffer,
  avc: AvcConfig,
  k: number,
  fail: (why: string) => PublishCheckError,
): void {
  const where = k === 0 ? "does not start with" : `has a fragment (${k + 1}) that does not start with`;
  const offset = f.sampleOffsets[0];
  if (offset === undefined) throw fail(`${where} a frame`);
  const kind = accessUnitKind(bytes.subarray(offset, offset + (f.sampleSizes[0] as number)), avc.lengthSize);
  if (kind === "malformed") throw fail(`${where} a well-formed frame (bad NAL unit lengths)`);
  if (kind !== "idr") throw fail(`${where} an IDR frame`);
  if (!f.info.sync[0]) throw fail(`${where} a frame marked as a sync sample`);
}

// ---------------------------------------------------------------------------------------------------
// ffmpeg/ffprobe

const INPUT_ARGS = ["-protocol_whitelist", "file,concat", "-format_whitelist", "mov"];

async function runTool(binary: string, args: string[], options: DeliveryToolOptions): Promise<ToolRun> {
  const run = await execTool(binary, args, {
    signal: options.signal,
    timeoutMs: options.timeoutMs,
    memoryLimitBytes: options.memoryLimitBytes,
  });
  if (run.code === null) throw new FfmpegDeadlineError(options.timeoutMs, run.commandLine, []);
  if (run.killedBy) throw toolRunError(binary, run, options.timeoutMs);
  return run;
}

/** ffmpeg's error lines without the "@ 0x55…" context addresses. */
function errorLines(stderr: string): string[] {
  return stderr
    .split(/\r?\n/)
    .map((l) => l.replace(/ @ 0x[0-9a-f]+\]/, "]").trim())
    .filter((l) => l !== "");
}

/**
 * Decodes one input to the null muxer, single-threaded: any error line (-v error) or a non-zero exit
 * is a failure. -xerror stops at the first error, -max_error_rate 0 fails the exit on any decode error.
 */
async function decode(input: string, options: DeliveryToolOptions) {
  const run = await runTool(
    options.ffmpegPath ?? "ffmpeg",
    [
      ...["-hide_banner", "-nostdin", "-nostats", "-v", "error", "-xerror", "-max_error_rate", "0"],
      ...[...INPUT_ARGS, "-threads", "1", "-i", input],
      ...["-map", "0", "-f", "null", "-progress", "pipe:1", "-"],
    ],
    options,
  );
  const errors = errorLines(run.stderr);
  // Out of memory under the address-space limit is the node's trouble, not the media's: retryable.
  if (errors.some((l) => /Cannot allocate memory|out of memory/i.test(l))) throw toolRunError("ffmpeg", run);
  const last = (key: string) => {
    const all = [...run.stdout.matchAll(new RegExp(`^${key}=(\\d+)`, "gm"))];
    return Number(all.at(-1)?.[1] ?? 0);
  };
  return {
    ok: run.code === 0 && errors.length === 0,
    error: errors.length > 0 ? errors.slice(0, 2).join("; ") : `ffmpeg exited with code ${run.code}`,
    frames: last("frame"),
    seconds: last("out_time_us") / 1e6,
  };
}

/**
 * Decodes a whole track (init + every segment, joined in `file`) once. On a failure, finds the first
 * segment that fails alone (init + that segment: each starts with an IDR, so each decodes alone); only
 * the failure path pays for that.
 */
async function decodeTrack(
  t: LocalTrack,
  file: string,
  options: DeliveryToolOptions,
): Promise<{ frames: number; seconds: number; ms: number }> {
  const started = Date.now();
  const whole = await decode(file, options);
  if (whole.ok) return { frames: whole.frames, seconds: whole.seconds, ms: Date.now() - started };
  for (const [i, path] of t.segmentPaths.entries()) {
    const alone = await decode(`concat:${t.initPath}|${path}`, options);
    if (!alone.ok) {
      throw new PublishCheckError(
        t.name,
        i + 1,
        `${t.name} segment ${i + 1} does not decode: ${alone.error}`,
      );
    }
  }
  throw new PublishCheckError(t.name, null, `${t.name} does not decode: ${whole.error}`);
}

/**
 * The decoder's view of the stream (ffprobe reads the init and the first frames of the joined track):
 * an independent parse of the same SPS (profile, level) and the decoded picture size.
 */
async function probeVideo(file: string, options: DeliveryToolOptions) {
  const run = await runTool(
    options.ffprobePath ?? "ffprobe",
    [
      ...["-v", "error", ...INPUT_ARGS, "-select_streams", "v:0"],
      ...["-show_entries", "stream=codec_name,profile,level,width,height", "-of", "json", file],
    ],
    options,
  );
  if (run.code !== 0) return null;
  try {
    const streams = (JSON.parse(run.stdout) as { streams?: Record<string, unknown>[] }).streams ?? [];
    const s = streams[0];
    if (!s) return null;
    return {
      codec: String(s.codec_name),
      profile: String(s.profile),
      level: Number(s.level),
      width: Number(s.width),
      height: Number(s.height),
    };
  } catch {
    return null;
  }
}

/** CODECS and RESOLUTION against the SPS, the avcC header, the sample entry and ffprobe. */
function checkCodecs(rung: LocalRung, avc: AvcConfig, probed: Awaited<ReturnType<typeof probeVideo>>): void {
  const fail = (why: string) => new PublishCheckError(rung.name, null, `${rung.name} ${why}`);
  let sps: SpsInfo;
  try {
    sps = parseSps(avc.sps[0] as Buffer);
  } catch (err) {
    throw fail(`has an unreadable SPS: ${(err as Error).message}`);
  }
  const actual = spsCodecString(sps, avc.sampleEntry);
  const header = `${avc.sampleEntry}.${hex2(avc.profile)}${hex2(avc.constraints)}${hex2(avc.level)}`;
  if (header !== actual) throw fail(`avcC says ${header} but its SPS says ${actual}`);
  if (rung.codecs.toLowerCase() !== actual) {
    throw fail(`CODECS "${rung.codecs}" does not match the stream, which is ${actual}`);
  }
  if (!probed) throw fail("cannot be probed by ffprobe");
  if (probed.codec !== "h264" || PROFILE_IDC[probed.profile] !== sps.profile || probed.level !== sps.level) {
    throw fail(
      `decodes as ${probed.codec} ${probed.profile} level ${probed.level}, not what ${actual} says (profile ${sps.profile}, level ${sps.level})`,
    );
  }
  const sizes = [
    ["the SPS", sps.width, sps.height],
    ["the sample entry", avc.width, avc.height],
    ["the decoder", probed.width, probed.height],
  ] as const;
  for (const [what, w, h] of sizes) {
    if (w !== rung.width || h !== rung.height) {
      throw fail(`RESOLUTION ${rung.width}x${rung.height} does not match ${what} (${w}x${h})`);
    }
  }
}

/** Rungs start together, cut segments at the same times (Apple 8.22), and audio starts with them. */
function checkTimeline(rungs: TrackFacts[], audio: TrackFacts | null, frame: number): number | null {
  const top = rungs[0] as TrackFacts;
  for (const r of rungs.slice(1)) {
    if (Math.abs(r.startSeconds - top.startSeconds) > frame / 2) {
      throw new PublishCheckError(
        r.name,
        1,
        `${r.name} starts at ${secs(r.startSeconds)}, ${top.name} at ${secs(top.startSeconds)}`,
      );
    }
    if (r.segmentStarts.length !== top.segmentStarts.length) {
      throw new PublishCheckError(
        r.name,
        null,
        `${r.name} has ${r.segmentStarts.length} segments, ${top.name} ${top.segmentStarts.length}`,
      );
    }
    r.segmentStarts.forEach((s, i) => {
      const other = top.segmentStarts[i] as number;
      if (Math.abs(s - other) > frame / 2) {
        throw new PublishCheckError(
          r.name,
          i + 1,
          `${r.name} segment ${i + 1} starts at ${secs(s)}, ${top.name}'s at ${secs(other)}`,
        );
      }
    });
  }
  if (!audio) return null;
  const offset = audio.startSeconds - top.startSeconds;
  if (Math.abs(offset) > AV_START_TOLERANCE_SECONDS) {
    throw new PublishCheckError(
      audio.name,
      1,
      `audio starts at ${secs(audio.startSeconds)} but video at ${secs(top.startSeconds)} (${Math.round(offset * 1000)} ms apart, more than ${AV_START_TOLERANCE_SECONDS * 1000} ms)`,
    );
  }
  return offset;
}

// ---------------------------------------------------------------------------------------------------

/** How many tracks are probed and decoded at once. */
const DECODE_LANES = 2;

/** Runs task(0..count-1), `lanes` at a time; the first failure (in index order of failing) rejects. */
async function inLanes(count: number, lanes: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | null = null;
  const lane = async () => {
    while (next < count && failure === null) {
      const i = next++;
      await task(i).catch((error: unknown) => {
        failure ??= { error };
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(lanes, count) }, lane));
  if (failure !== null) throw (failure as { error: unknown }).error;
}

/**
 * Checks a finished ladder before its video may turn ready; throws PublishCheckError with a reason
 * naming the rung and segment. Cost: reading every segment once, one ffprobe per rung and one
 * single-threaded decode (no encode) per track.
 */
export async function verifyPublishedLadder(
  ladder: LocalLadder,
  options: DeliveryToolOptions,
): Promise<LadderCheck> {
  const started = Date.now();
  if (ladder.rungs.length === 0) throw new PublishCheckError("ladder", null, "the ladder has no video rungs");
  const dir = await mkdtemp(join(options.scratchDir ?? tmpdir(), "streamlet-verify-"));
  try {
    const tracks: { t: LocalTrack; facts: TrackFacts; file: string }[] = [];
    const avcs: AvcConfig[] = [];
    // Cheap checks of every track first, so a structural failure costs no decoding.
    for (const [i, t] of [...ladder.rungs, ...(ladder.audio ? [ladder.audio] : [])].entries()) {
      const rung = ladder.rungs[i];
      let video: { avc: AvcConfig; frameRate: number } | null = null;
      if (rung) {
        try {
          video = { avc: readAvcConfig(await readFile(rung.initPath)), frameRate: rung.frameRate };
        } catch (err) {
          if (err instanceof Mp4FormatError) {
            throw new PublishCheckError(
              t.name,
              null,
              `${t.name} init is not a valid H.264 init: ${err.message}`,
            );
          }
          throw err;
        }
        avcs.push(video.avc);
      }
      const file = join(dir, `${i}.mp4`);
      const sink = createWriteStream(file);
      try {
        tracks.push({ t, facts: await readTrack(t, ladder.targetSeconds, video, sink), file });
      } finally {
        sink.end();
        await finished(sink);
      }
    }
    const rungFacts = tracks.slice(0, ladder.rungs.length).map((x) => x.facts);
    const audioFacts = ladder.audio ? (tracks.at(-1)?.facts ?? null) : null;
    const frame = 1 / (ladder.rungs[0] as LocalRung).frameRate;
    const audioOffsetSeconds = checkTimeline(rungFacts, audioFacts, frame);
    // Each track's probe and decode are single-threaded ffmpeg runs: two tracks at a time.
    const checks: TrackCheck[] = new Array(tracks.length);
    await inLanes(tracks.length, DECODE_LANES, async (i) => {
      const { t, facts, file } = tracks[i] as (typeof tracks)[number];
      const rung = ladder.rungs[i];
      if (rung) checkCodecs(rung, avcs[i] as AvcConfig, await probeVideo(file, options));
      const decoded = await decodeTrack(t, file, options);
      if (t !== ladder.audio && decoded.frames !== facts.samples) {
        throw new PublishCheckError(
          t.name,
          null,
          `${t.name} decodes to ${decoded.frames} frames but holds ${facts.samples}`,
        );
      }
      checks[i] = {
        name: t.name,
        segments: t.segmentPaths.length,
        fragments: facts.fragments,
        startSeconds: facts.startSeconds,
        durationSeconds: facts.durationSeconds,
        decodedFrames: decoded.frames,
        decodedSeconds: decoded.seconds,
        decodeMs: decoded.ms,
      };
      await rm(file, { force: true });
    });
    return {
      rungs: checks.slice(0, ladder.rungs.length),
      audio: ladder.audio ? (checks.at(-1) ?? null) : null,
      audioOffsetSeconds,
      elapsedMs: Date.now() - started,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
