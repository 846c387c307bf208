import { BadMediaError } from "./errors.ts";
import { planFrameRate } from "./ladder.ts";
import type { MediaFacts } from "./probe.ts";
import { toNumber } from "./rational.ts";

/**
 * How much work one upload may ask for, decided from the probe before anything is decoded: a tiny
 * file must not buy hours of encoding or gigabytes of decoder memory. Passed in by the caller (the
 * worker reads them from its config); the media core never reads config itself.
 */
export interface SourceLimits {
  /** Longest accepted duration, in seconds. */
  maxDurationSeconds: number;
  /** Widest accepted coded picture, in pixels. */
  maxWidth: number;
  /** Tallest accepted coded picture, in pixels. */
  maxHeight: number;
  /** Most pixels per second to decode: coded width x height x frame rate. */
  maxPixelRate: number;
  /** Highest accepted source frame rate. */
  maxFps: number;
}

/** Defaults: 6 h, 8192 x 8192 (8K UHD 7680x4320 and DCI 8K fit), 4K60's pixel rate, 240 fps (phone slow motion). */
export const DEFAULT_SOURCE_LIMITS: Readonly<SourceLimits> = Object.freeze({
  maxDurationSeconds: 6 * 60 * 60,
  maxWidth: 8192,
  maxHeight: 8192,
  maxPixelRate: 3840 * 2160 * 60,
  maxFps: 240,
});

/** The largest decoded frame the limits allow (ffmpeg's -max_pixels for decoding runs). */
export function maxPixelsOf(limits: Pick<SourceLimits, "maxWidth" | "maxHeight">): number {
  return limits.maxWidth * limits.maxHeight;
}

/**
 * A timeline is "sparse" when the ladder (constant frame rate) would invent at least this many output
 * frames per frame the file really holds. 20: a real source at a nominal 60 fps would have to average
 * fewer than 3 stored frames a second; variable-rate phone and screen recordings report their average
 * rate, which tracks the frames they hold, so they stay near 1.
 */
export const SPARSE_FRAME_RATIO = 20;
/**
 * ...and only when the invented frames come to more than a few minutes of 60 fps video (18 000
 * frames), so a short slideshow-like clip is still encoded: its duplicates cost seconds, whereas the
 * attack this stops (two 1080p frames ten hours apart, 13.5 KB) asked for 2.16 million frames per rung.
 */
export const SPARSE_MIN_INVENTED_FRAMES = 18_000;

/** What the limits are checked against: coded size (before rotation and pixel aspect), rate, duration. */
export type LimitFacts = Pick<MediaFacts, "frameRate" | "variableFrameRate" | "durationSeconds" | "fps"> & {
  codedWidth: number;
  codedHeight: number;
  /** Video packets ffprobe counted (-count_packets); null when unknown (the check is skipped). */
  videoPackets: number | null;
};

const hours = (seconds: number) =>
  seconds >= 3600 ? `${(seconds / 3600).toFixed(1)} h` : `${Math.round(seconds / 60)} min`;

/** Throws a BadMediaError saying which limit the source exceeds; returns when it is within them all. */
export function checkSourceLimits(facts: LimitFacts, limits: SourceLimits): void {
  const { codedWidth: width, codedHeight: height, durationSeconds: duration } = facts;
  if (width > limits.maxWidth || height > limits.maxHeight) {
    throw new BadMediaError(
      `The video's picture is ${width}x${height}, larger than the ${limits.maxWidth}x${limits.maxHeight} accepted here`,
    );
  }
  if (facts.fps > limits.maxFps) {
    throw new BadMediaError(
      `The video's frame rate is ${Math.round(facts.fps)} fps, above the ${limits.maxFps} fps accepted here`,
    );
  }
  if (width * height * facts.fps > limits.maxPixelRate) {
    throw new BadMediaError(
      `The video is ${width}x${height} at ${Math.round(facts.fps)} fps, more pixels per second than accepted here (at most ${limits.maxPixelRate}, e.g. 3840x2160 at 60 fps)`,
    );
  }
  if (duration > limits.maxDurationSeconds) {
    throw new BadMediaError(
      `The video is ${hours(duration)} long, longer than the ${hours(limits.maxDurationSeconds)} accepted here`,
    );
  }
  const packets = facts.videoPackets;
  if (packets === null) return;
  const expected = duration * toNumber(planFrameRate(facts));
  if (
    expected > Math.max(1, packets) * SPARSE_FRAME_RATIO &&
    expected - packets > SPARSE_MIN_INVENTED_FRAMES
  ) {
    throw new BadMediaError(
      `The video's frames are far apart (${packets} frame${packets === 1 ? "" : "s"} over ${hours(duration)}): re-export it at a constant frame rate`,
    );
  }
}
