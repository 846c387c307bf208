import { KEYFRAME_SECONDS, SEGMENT_SECONDS } from "@streamlet/shared";
import type { Rational } from "../rational.ts";

/**
 * The chunk planner: cuts a video's constant-rate output timeline into HLS segments and the segments
 * into chunks that separate encodes (later separate jobs) produce. Everything is a frame index on the
 * output grid (frame k at k*den/num s), so nothing drifts at 30000/1001; times are derived, never summed.
 */

/** One HLS media segment: frames [startFrame, startFrame + frameCount). */
export interface PlannedSegment {
  /** Segment number, from 1 (seg_00001.m4s). */
  index: number;
  startFrame: number;
  frameCount: number;
  /** startFrame's presentation time. */
  startSeconds: number;
  durationSeconds: number;
}

/** One encode: whole consecutive segments, starting on a keyframe. */
export interface PlannedChunk {
  /** Chunk number, from 1; chunk 1 is the one to schedule first. */
  index: number;
  /** Number of its first segment. */
  firstSegment: number;
  segmentCount: number;
  startFrame: number;
  frameCount: number;
  /** startFrame's presentation time (what `-ss` seeks to). */
  startSeconds: number;
  /** Keyframes (IDRs) as frame offsets from startFrame; the first is 0. */
  keyframes: number[];
  /** mfhd sequence number of its first fragment (fragments are numbered across the whole rung from 1). */
  firstFragment: number;
}

export interface ChunkPlan {
  fps: Rational;
  totalFrames: number;
  /** Every keyframe of the video, as frame indices (one fMP4 fragment starts at each). */
  keyframes: number[];
  segments: PlannedSegment[];
  chunks: PlannedChunk[];
}

export interface ChunkPlanInput {
  /** Output duration in seconds; the frame count is duration x fps, rounded. */
  durationSeconds: number;
  /** The constant output rate (planFrameRate). */
  fps: Rational;
  /** Exact frame count, when known, instead of deriving it from durationSeconds. */
  totalFrames?: number;
  /** Target length of the chunks after the opening ones, in seconds (rounded to whole segments). */
  chunkSeconds?: number;
}

/** Later chunks: a few segments each, so a chunk's seek and start-up cost stay small beside its encode. */
export const DEFAULT_CHUNK_SECONDS = 24;
/**
 * After the opening, a chunk is at most chunkSeconds and at most 1/TAIL_SHARES of what is left
 * (guided self-scheduling), so the chunks shrink towards the end: nodes that run out of work near the
 * end wait for a short chunk, not a full one (7 chunks of 2-min video on 2 nodes left one idle for the
 * last 73 s; the tail now ends in 6-s chunks). The plan cannot know the fleet: 4 shares suit 2-4 nodes,
 * and a longer video is still mostly chunkSeconds-long chunks.
 */
export const TAIL_SHARES = 4;
/**
 * The opening: the first SEGMENT_SECONDS are cut into 1, 1, 2 and 2-s segments (HLS allows segments
 * shorter than the target; the 1-s ones need one keyframe more, at 1 s), chunk 1 is segment 1 alone and
 * chunk 2 the rest of the opening, so the video is playable after one second of it is encoded: on a
 * 2-core node, 2 s of 1080p x 3 rungs took chunk 1 10-11 s beside the rest of a node's work.
 */
export const FIRST_SEGMENT_SECONDS = 1;
export const OPENING_CHUNK_SEGMENTS = [1, 3] as const;

/**
 * The frame at which the encoder forces keyframe `n`: the first frame with t >= n x KEYFRAME_SECONDS,
 * the same rule as encoder.ts's FORCE_KEY_FRAMES, in exact integer arithmetic.
 */
export function keyframeFrame(n: number, fps: Rational): number {
  const numerator = n * KEYFRAME_SECONDS * fps.num;
  return Math.floor((numerator + fps.den - 1) / fps.den);
}

/** A frame index's presentation time in seconds. */
export function frameSeconds(frame: number, fps: Rational): number {
  return (frame * fps.den) / fps.num;
}

/** The output frame count for a duration: duration x fps, rounded, at least one frame. */
export function frameCountFor(durationSeconds: number, fps: Rational): number {
  return Math.max(1, Math.round((durationSeconds * fps.num) / fps.den));
}

function checkInput(input: ChunkPlanInput): void {
  const { fps } = input;
  if (!(Number.isSafeInteger(fps.num) && Number.isSafeInteger(fps.den) && fps.num > 0 && fps.den > 0)) {
    throw new Error(`chunk plan needs a positive frame rate, got ${fps.num}/${fps.den}`);
  }
  if (input.totalFrames !== undefined) {
    if (!(Number.isSafeInteger(input.totalFrames) && input.totalFrames > 0)) {
      throw new Error(`chunk plan needs a positive whole frame count, got ${input.totalFrames}`);
    }
  } else if (!(Number.isFinite(input.durationSeconds) && input.durationSeconds > 0)) {
    throw new Error(`chunk plan needs a positive duration, got ${input.durationSeconds}`);
  }
  if (input.chunkSeconds !== undefined && !(input.chunkSeconds > 0)) {
    throw new Error(`chunkSeconds must be positive, got ${input.chunkSeconds}`);
  }
}

/** The first frame at or after `seconds` (a whole number), in exact integer arithmetic. */
function frameAtSeconds(seconds: number, fps: Rational): number {
  return Math.floor((seconds * fps.num + fps.den - 1) / fps.den);
}

/**
 * Every keyframe before totalFrames: every KEYFRAME_SECONDS, and the one that ends the 1-s first
 * segment (deduplicated: at 1 fps or below, frames coincide).
 */
function allKeyframes(totalFrames: number, fps: Rational): number[] {
  const frames: number[] = [];
  const first = frameAtSeconds(FIRST_SEGMENT_SECONDS, fps);
  for (let n = 0; ; n++) {
    const frame = keyframeFrame(n, fps);
    if (n === 1 && first < frame && first < totalFrames && first !== frames.at(-1)) frames.push(first);
    if (frame >= totalFrames) return frames;
    if (frame !== frames.at(-1)) frames.push(frame);
  }
}

/**
 * Segment start frames: 0 and 1 s, then KEYFRAME_SECONDS apart to the end of the opening, then
 * SEGMENT_SECONDS apart. A last segment under a second (a video a few frames past a cut) joins the
 * one before it: players skip such a sliver and then never see the rendition end (hls.js stalls short
 * of the end, waiting for it).
 */
function segmentStarts(totalFrames: number, fps: Rational): number[] {
  const starts: number[] = [];
  const perSegment = SEGMENT_SECONDS / KEYFRAME_SECONDS;
  const first = frameAtSeconds(FIRST_SEGMENT_SECONDS, fps);
  for (let n = 0; ; n += n < perSegment ? 1 : perSegment) {
    const frame = keyframeFrame(n, fps);
    if (n === 1 && first < frame && first < totalFrames && first !== starts.at(-1)) starts.push(first);
    if (frame >= totalFrames) break;
    if (frame !== starts.at(-1)) starts.push(frame);
  }
  const lastStart = starts.at(-1) ?? 0;
  if (starts.length > 1 && frameSeconds(totalFrames - lastStart, fps) < MIN_LAST_SEGMENT_SECONDS)
    starts.pop();
  return starts;
}

/** A last segment shorter than this joins the one before it (segmentStarts). */
export const MIN_LAST_SEGMENT_SECONDS = 1;

/** Plans segments and chunks for a video: contiguous, keyframe-aligned, a small opening first, a shrinking tail. */
export function planChunks(input: ChunkPlanInput): ChunkPlan {
  checkInput(input);
  const fps = { num: input.fps.num, den: input.fps.den };
  const totalFrames = input.totalFrames ?? frameCountFor(input.durationSeconds, fps);
  const keyframes = allKeyframes(totalFrames, fps);
  const starts = segmentStarts(totalFrames, fps);
  const segments = starts.map((startFrame, i): PlannedSegment => {
    const end = starts[i + 1] ?? totalFrames;
    return {
      index: i + 1,
      startFrame,
      frameCount: end - startFrame,
      startSeconds: frameSeconds(startFrame, fps),
      durationSeconds: frameSeconds(end - startFrame, fps),
    };
  });

  const perChunk = Math.max(1, Math.round((input.chunkSeconds ?? DEFAULT_CHUNK_SECONDS) / SEGMENT_SECONDS));
  const chunks: PlannedChunk[] = [];
  // Keyframes and chunks both run forward: one pass over each (indexOf/filter per chunk made a plan
  // of 60 000 chunks take 22 s).
  let k = 0;
  for (let s = 0; s < segments.length; ) {
    const left = segments.length - s;
    const later = Math.min(perChunk, Math.max(1, Math.round(left / TAIL_SHARES)));
    const count = Math.min(OPENING_CHUNK_SEGMENTS[chunks.length] ?? later, left);
    const first = segments[s] as PlannedSegment;
    const last = segments[s + count - 1] as PlannedSegment;
    const end = last.startFrame + last.frameCount;
    while (k < keyframes.length && (keyframes[k] as number) < first.startFrame) k++;
    const firstKey = keyframes[k] === first.startFrame ? k : -1;
    const own: number[] = [];
    for (let j = k; j < keyframes.length && (keyframes[j] as number) < end; j++) {
      own.push((keyframes[j] as number) - first.startFrame);
    }
    chunks.push({
      index: chunks.length + 1,
      firstSegment: first.index,
      segmentCount: count,
      startFrame: first.startFrame,
      frameCount: end - first.startFrame,
      startSeconds: first.startSeconds,
      keyframes: own,
      firstFragment: firstKey + 1,
    });
    s += count;
  }
  return { fps, totalFrames, keyframes, segments, chunks };
}
