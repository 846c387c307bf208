import { z } from "zod";

/** One rung of the ladder as configured: a target height and its bitrate budget. */
export const LadderRung = z.object({
  /** Target height for landscape sources (width for portrait ones). */
  height: z.number().int().positive(),
  /** Target average video bitrate in bits per second. */
  videoBitrate: z.number().int().positive(),
  /** Peak rate cap in bits per second (VBV maxrate). */
  maxBitrate: z.number().int().positive(),
});
export type LadderRung = z.infer<typeof LadderRung>;

export const Ladder = z.array(LadderRung).min(1);
export type Ladder = z.infer<typeof Ladder>;

/**
 * The default ladder: 1080p/720p/480p, bitrates after Apple's HLS authoring table [1.25],
 * tallest first. The planner never upscales and keeps an in-between source height as the top rung.
 */
export const DEFAULT_LADDER: Ladder = [
  { height: 1080, videoBitrate: 6_000_000, maxBitrate: 7_800_000 },
  { height: 720, videoBitrate: 3_000_000, maxBitrate: 4_500_000 },
  { height: 480, videoBitrate: 1_200_000, maxBitrate: 1_800_000 },
];

/** HLS target segment duration in seconds (Apple HLS authoring spec 7.5). */
export const SEGMENT_SECONDS = 6;
/** Keyframe interval in seconds: an IDR every 2 s (spec 1.13), three per segment. */
export const KEYFRAME_SECONDS = 2;
