import { z } from "zod";
import { canonicalId, Id, VideoId } from "./ids.ts";
import { Ladder } from "./ladder.ts";
import { outputPrefix, sourceKey } from "./storage-layout.ts";

/** The BullMQ queue both sides agree on. */
export const TRANSCODE_QUEUE = "transcode";
/** The chunk jobs of the videos TRANSCODE_QUEUE's coordinators are encoding (transcoder/src/chunked). */
export const CHUNK_QUEUE = "transcode-chunks";

// A malformed id fails on its own field; the key checks only speak about a valid one.
const isId = (value: string) => canonicalId(value) !== null;

/**
 * The transcode job payload: what to read, where to write, and whose it is (the transcoder limits how many
 * jobs of one owner run at once). The keys must be the ones the storage layout derives from the video id,
 * so a payload can never point a node at another video's objects.
 */
export const TranscodeJob = z
  .object({
    videoId: VideoId,
    /**
     * The uploader's user id: jobs in flight are counted per owner, so one user cannot fill every node.
     * Optional only so jobs queued by an edge older than the field still run after an upgrade (uncounted).
     */
    ownerId: Id.optional(),
    input: z.object({ key: z.string().min(1) }),
    output: z.object({
      /** Key prefix ending in "/" under which master.m3u8, rung folders and poster.jpg are written. */
      prefix: z.string().regex(/\/$/),
      ladder: Ladder.optional(),
    }),
    /** Token scoped to this video's progress channel (publish only), minted by the edge at enqueue time. */
    progressToken: z.string().min(1).max(2048),
  })
  .refine((job) => !isId(job.videoId) || job.input.key === sourceKey(job.videoId), {
    message: "input.key must be the video's source key",
    path: ["input", "key"],
  })
  .refine((job) => !isId(job.videoId) || job.output.prefix === outputPrefix(job.videoId), {
    message: "output.prefix must be the video's output prefix",
    path: ["output", "prefix"],
  });
export type TranscodeJob = z.infer<typeof TranscodeJob>;
