import { z } from "zod";
import { Ladder } from "./ladder.ts";

/** The BullMQ queue both sides agree on. */
export const TRANSCODE_QUEUE = "transcode";

/** Storage keys for a video, derived from its id only, so a retry overwrites instead of duplicating. */
export function videoKeys(videoId: string) {
  return {
    source: `sources/${videoId}`,
    outputPrefix: `videos/${videoId}/`,
  };
}

/** The transcode job payload: what to read, where to write; nothing else. */
export const TranscodeJob = z.object({
  videoId: z.string().min(1).max(64),
  input: z.object({ key: z.string().min(1) }),
  output: z.object({
    /** Key prefix ending in "/" under which master.m3u8, rung folders and poster.jpg are written. */
    prefix: z.string().regex(/\/$/),
    ladder: Ladder.optional(),
  }),
  /** Token scoped to this video's progress channel (publish only), minted by the edge at enqueue time. */
  progressToken: z.string().min(1).max(2048),
});
export type TranscodeJob = z.infer<typeof TranscodeJob>;
