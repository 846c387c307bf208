import { z } from "zod";
import { canonicalId, Id, VideoId } from "./ids.ts";
import { Ladder } from "./ladder.ts";
import { outputPrefix, sourceKey } from "./storage-layout.ts";

/** The BullMQ queue both sides agree on. */
export const TRANSCODE_QUEUE = "transcode";
/** The chunk jobs of the videos TRANSCODE_QUEUE's coordinators are encoding (transcoder/src/chunked). */
export const CHUNK_QUEUE = "transcode-chunks";

/**
 * Most runs one video may have (its first transcode and every retry of a failed one): keeps each run's
 * progress seqs (runSeqBase in progress.ts) below 10^14, within a safe integer and the `since` parameter.
 */
export const MAX_TRANSCODE_RUN = 100_000;

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
    input: z.object({
      key: z.string().min(1),
      /**
       * A source to import first (POST /v1/videos with source.url): the node downloads it into `key`
       * (SSRF-checked, at most `maxBytes`) unless an earlier attempt stored it already.
       */
      url: z
        .url({ protocol: /^https?$/ })
        .max(2048)
        .optional(),
      /** The most bytes the import may store: the edge's MAX_SOURCE_BYTES or the owner's quota left. */
      maxBytes: z.number().int().positive().optional(),
    }),
    output: z.object({
      /** Key prefix ending in "/" under which master.m3u8, rung folders and poster.jpg are written. */
      prefix: z.string().regex(/\/$/),
      ladder: Ladder.optional(),
    }),
    /** Token scoped to this video's progress channel (publish only), minted by the edge at enqueue time. */
    progressToken: z.string().min(1).max(2048),
    /**
     * Which transcode of the video this is: 1 (or absent, as in jobs queued before the field) for the
     * first, one more per retry of a failed video. Everything a run leaves behind under a deterministic
     * name (chunk job ids, the chunks' cancel flag, progress seqs) carries it, so a retry never finds the
     * previous run's.
     */
    run: z.number().int().positive().max(MAX_TRANSCODE_RUN).optional(),
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

/** The job's run number (absent: 1, the first run). */
export function runOf(job: Pick<TranscodeJob, "run">): number {
  return job.run ?? 1;
}
