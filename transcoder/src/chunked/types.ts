import { Id, MAX_TRANSCODE_RUN, VideoId } from "@streamlet/shared";
import { z } from "zod";
import { NVENC_PRESETS } from "../media/index.ts";

/**
 * What the video's coordinator (process-job.ts) and the chunk side (any node) agree on. A chunk job's
 * payload carries the chunk plan's INPUTS, never the plan itself: every node recomputes it with the pure
 * planChunks (a 6-hour video has thousands of segments; its plan has no place in every job in Redis).
 */

/** BullMQ queue of chunk jobs (separate from the coordinators' TRANSCODE_QUEUE). */
export { CHUNK_QUEUE } from "@streamlet/shared";

const Rational = z.object({ num: z.number().int().positive(), den: z.number().int().positive() });

const Rung = z.object({
  name: z.string().regex(/^[\w-]{1,16}$/),
  width: z.number().int().positive().max(16384),
  height: z.number().int().positive().max(16384),
  videoBitrate: z.number().int().positive(),
  maxBitrate: z.number().int().positive(),
  bufsize: z.number().int().positive(),
});

/**
 * The encoder every chunk of a video runs with, as its coordinator chose it: a rung's chunks share one
 * init segment, which only identical encoder settings give (a node's own X264_PRESET does not count).
 */
const Encoder = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("x264"),
    preset: z.string().regex(/^[a-z]{1,16}$/),
    crf: z.number().min(0).max(51).optional(),
  }),
  z.object({
    kind: z.literal("nvenc"),
    preset: z.enum(NVENC_PRESETS).optional(),
    lookahead: z.number().int().min(0).max(64).optional(),
    hwDecode: z.boolean().optional(),
  }),
]);

/** One chunk of one video: encode every rung of it and store its final segments (and, for chunk 1, the inits). */
export const ChunkJob = z.object({
  videoId: VideoId,
  /** Counted per owner like every job (fair-share.ts). */
  ownerId: Id.optional(),
  /**
   * The video's run (TranscodeJob.run): its chunk job ids and cancel flag carry it, so a retried video's
   * chunks never meet the failed run's. Absent for the first run (and in jobs queued before the field).
   */
  run: z.number().int().positive().max(MAX_TRANSCODE_RUN).optional(),
  /** Chunk number in the plan, from 1. */
  chunk: z.number().int().min(1),
  /** planChunks input: the exact output frame count, the constant output rate, later chunks' length. */
  totalFrames: z.number().int().positive(),
  fps: Rational,
  chunkSeconds: z.number().positive(),
  /** Tallest first; the same list for every chunk of the video. */
  rungs: z.array(Rung).min(1).max(8),
  /** Absent only in jobs queued before the field existed: the node's own encoder then. */
  encoder: Encoder.optional(),
  /**
   * Whether chunk 1 reads the source over a presigned URL instead of waiting for the node's download
   * (run-chunk.ts sourceFor): set when the coordinator could read the header so. Absent in jobs queued
   * before the field existed: the download then, as before.
   */
  firstChunkStreams: z.boolean().optional(),
  /** What the encoder's decode path needs to know of the source (rotation, codec, pixel format). */
  facts: z.object({
    /** Clockwise rotation ffmpeg's autorotate applies (MediaFacts.rotation). */
    rotation: z.union([z.literal(0), z.literal(90), z.literal(180), z.literal(270)]).optional(),
    videoCodec: z.string().max(64).optional(),
    pixelFormat: z.string().max(64).optional(),
  }),
});
export type ChunkJob = z.infer<typeof ChunkJob>;

/** A stored segment of one rung. */
export const DoneSegment = z.object({
  index: z.number().int().min(1),
  durationSeconds: z.number().positive(),
  bytes: z.number().int().positive(),
});
export type DoneSegment = z.infer<typeof DoneSegment>;

/** What a finished chunk reports (the chunk job's return value: JSON in Redis). */
export const ChunkDone = z.object({
  chunk: z.number().int().min(1),
  rungs: z.array(
    z.object({
      rung: z.string(),
      /** sha256 (hex) of the rung's init.mp4 as this chunk produced it: every chunk's must be the same. */
      initSha256: z.string().regex(/^[0-9a-f]{64}$/),
      segments: z.array(DoneSegment),
    }),
  ),
});
export type ChunkDone = z.infer<typeof ChunkDone>;

/** Where an in-process runner reads the coordinator's source (see sourceFor in run-chunk.ts). */
export interface CoordinatorSource {
  /** A presigned URL of the source, readable at once. */
  url(): Promise<string>;
  /** The source on this node once its download is complete. */
  path(): Promise<string>;
}

/** A video handed to a ChunkRunner: the chunk jobs' shared fields, plus the source for in-process runs. */
export type ChunkedVideo = Omit<ChunkJob, "chunk"> & {
  /** Number of chunks in the plan. */
  chunkCount: number;
  /** The coordinator's source: a local runner encodes from it (a queue runner's nodes find their own). */
  source: CoordinatorSource;
};

/**
 * Runs every chunk of a video and reports each as it is stored (in any order). Resolves once every chunk
 * is stored; rejects with the first chunk's permanent failure (after stopping the others); on `signal`
 * (a deleted video, a failure beside the chunks) it stops what it started and rejects with its reason.
 * On `leave` (this coordinator's shutdown or lost lock) it stops waiting and rejects with that reason but
 * leaves queued chunks to run: the coordinator that takes the video over finds them done.
 */
export interface ChunkRunner {
  run(
    video: ChunkedVideo,
    onDone: (done: ChunkDone) => void | Promise<void>,
    signal: AbortSignal,
    leave?: AbortSignal,
  ): Promise<void>;
}
