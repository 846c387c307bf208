import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { contentTypeFor, INIT_SEGMENT, outputPrefix, segmentName } from "@streamlet/shared";
import { UnrecoverableError } from "bullmq";
import { DEFAULT_FFMPEG_TIME_LIMIT } from "../config.ts";
import type { Logger } from "../log.ts";
import {
  ChunkOutputError,
  type ChunkPlan,
  type ChunkResult,
  DEFAULT_SOURCE_LIMITS,
  type EncoderSpec,
  encodeChunk,
  type FfmpegStats,
  frameSeconds,
  maxPixelsOf,
  mediaDeadlineMs,
  planChunks,
  type SourceLimits,
} from "../media/index.ts";
import type { SessionBudget } from "../nvenc-budget.ts";
import type { Storage } from "../storage.ts";
import { type ChunkDone, ChunkJob, type CoordinatorSource } from "./types.ts";

/** Files of one chunk uploaded at once. */
const UPLOAD_PARALLELISM = 4;

/**
 * CPU niceness of work that does not decide when a video becomes playable: chunks after the first and
 * the whole-video audio encode (whose first segment needs a fraction of a second of CPU). A video's
 * first chunk runs at the normal priority and everything else on the node yields the cores to it, so
 * chunk 1 gets nearly all the CPU instead of a share (measured on 2 cores: 5.3 s beside a niced chunk
 * 2, 8.9 s beside a normal one, 4.0-5.6 s alone). Nothing waits for CPU that is idle: a lower priority
 * only matters while something else wants the core.
 */
export const BACKGROUND_NICENESS = 10;

/**
 * Where a chunk's encode reads the source: chunk 1 over a presigned URL, at once, so a video is
 * playable within seconds however long its download takes (ffmpeg reads the header and the first
 * seconds with range requests), when its coordinator could read the header so (firstChunkStreams);
 * every later chunk from the node's whole copy, downloaded meanwhile (a seek over HTTP into a
 * container without an index would read from the start).
 */
export function sourceFor(
  job: Pick<ChunkJob, "chunk" | "firstChunkStreams">,
  source: CoordinatorSource,
): Promise<string> {
  return job.chunk === 1 && job.firstChunkStreams === true ? source.url() : source.path();
}

/** How long chunk 1's presigned source URL lives: well past its ffmpeg's longest run. */
export const FIRST_CHUNK_URL_SECONDS = 3600;

/** The niceness of a chunk's encode (see BACKGROUND_NICENESS). */
export function chunkNiceness(chunk: number): number {
  return chunk === 1 ? 0 : BACKGROUND_NICENESS;
}

export interface RunChunkDeps {
  storage: Pick<Storage, "putFile">;
  log: Logger;
  /** A temp folder per chunk is made (and always removed) here. */
  workDir: string;
  ffmpegPath: string;
  /**
   * The encoder of this node. Every chunk of a video must be encoded with the same spec (a different
   * encoder or preset writes a different init): the reported initSha256 lets the coordinator check.
   */
  encoder: EncoderSpec;
  /** NVENC sessions of this process: an NVENC chunk holds one per rung while it runs. */
  sessions?: SessionBudget;
  /** Kill an encode whose ffmpeg prints nothing for this long. */
  encodeStallTimeoutMs?: number;
  /** The chunk's ffmpeg is killed past max(minimumMs, factor x the CHUNK's duration). */
  ffmpegTimeLimit?: { factor: number; minimumMs: number };
  /** Address-space ceiling of an x264 chunk encode (never NVENC: CUDA reserves far more than it uses). */
  ffmpegMemoryLimitBytes?: number;
  /** Gives -max_pixels (the largest decoded frame allowed). */
  sourceLimits?: SourceLimits;
  onEncodeStats?: (stats: FfmpegStats) => void;
}

export interface RunChunkOptions {
  signal?: AbortSignal;
  /**
   * Called before the encode and before the upload; throws to stop the chunk (the video's chunks were
   * cancelled). Nothing of this chunk is stored when it throws before the upload.
   */
  checkpoint?: () => Promise<void>;
}

/** A payload that does not match the contract can never succeed: fail it without retries. */
export function parseChunkJob(data: unknown): ChunkJob {
  const parsed = ChunkJob.safeParse(data);
  if (parsed.success) return parsed.data;
  throw new UnrecoverableError(
    `invalid chunk job payload: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
  );
}

/** The chunk plan every node computes alike from the job's inputs (never carried in the job). */
export function chunkPlanOf(job: Pick<ChunkJob, "totalFrames" | "fps" | "chunkSeconds">): ChunkPlan {
  return planChunks({
    durationSeconds: 0, // unused: totalFrames is exact
    totalFrames: job.totalFrames,
    fps: job.fps,
    chunkSeconds: job.chunkSeconds,
  });
}

/** The storage key of a rung's file; derived from the video id alone, so a retry overwrites. */
export function chunkKey(videoId: string, rung: string, file: string): string {
  return `${outputPrefix(videoId)}${rung}/${file}`;
}

/** Runs `fn` over items with at most `limit` in flight; every one settles before it returns. */
async function eachLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (!failed && next < items.length) {
      try {
        await fn(items[next++] as T);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  });
  const rejected = (await Promise.allSettled(lanes)).find(
    (r): r is PromiseRejectedResult => r.status === "rejected",
  );
  if (rejected) throw rejected.reason;
}

/** The encode of one chunk, with the deadline of ITS duration and NVENC sessions held while it runs. */
async function encode(
  job: ChunkJob,
  plan: ChunkPlan,
  source: string,
  outDir: string,
  deps: RunChunkDeps,
  signal: AbortSignal | undefined,
): Promise<ChunkResult> {
  const chunk = plan.chunks[job.chunk - 1];
  if (!chunk) throw new Error(`chunk ${job.chunk} is not in the plan`);
  const { factor, minimumMs } = deps.ffmpegTimeLimit ?? DEFAULT_FFMPEG_TIME_LIMIT;
  const nvenc = deps.encoder.kind === "nvenc";
  const run = () =>
    encodeChunk({
      input: source,
      outDir,
      facts: job.facts,
      rungs: job.rungs,
      encoder: deps.encoder,
      plan,
      chunk: job.chunk,
      maxPixels: maxPixelsOf(deps.sourceLimits ?? DEFAULT_SOURCE_LIMITS),
      run: {
        ffmpegPath: deps.ffmpegPath,
        signal,
        stallTimeoutMs: deps.encodeStallTimeoutMs,
        timeoutMs: mediaDeadlineMs(frameSeconds(chunk.frameCount, plan.fps), factor, minimumMs),
        memoryLimitBytes: nvenc ? undefined : deps.ffmpegMemoryLimitBytes,
        niceness: chunkNiceness(job.chunk),
        onStats: deps.onEncodeStats,
      },
    });
  if (nvenc && deps.sessions) return deps.sessions.run(job.rungs.length, run, signal);
  return run();
}

/** Uploads a chunk's segments (and for chunk 1 the inits) to their final keys; reports what it stored. */
async function upload(
  job: ChunkJob,
  result: ChunkResult,
  deps: RunChunkDeps,
  signal: AbortSignal | undefined,
): Promise<ChunkDone> {
  const files: { key: string; path: string }[] = [];
  const rungs: ChunkDone["rungs"] = [];
  for (const r of result.rungs) {
    const init = await readFile(r.initPath);
    rungs.push({
      rung: r.rung,
      initSha256: createHash("sha256").update(init).digest("hex"),
      segments: r.segments.map((s) => ({
        index: s.index,
        durationSeconds: s.durationSeconds,
        bytes: s.bytes,
      })),
    });
    for (const s of r.segments)
      files.push({ key: chunkKey(job.videoId, r.rung, segmentName(s.index)), path: s.path });
    if (job.chunk === 1) files.push({ key: chunkKey(job.videoId, r.rung, INIT_SEGMENT), path: r.initPath });
  }
  await eachLimit(files, UPLOAD_PARALLELISM, (f) =>
    deps.storage.putFile(f.key, f.path, contentTypeFor(f.key), signal),
  );
  return { chunk: job.chunk, rungs };
}

/**
 * One chunk job, start to end, from its source (sourceFor: a file on this node or a presigned URL): recompute the plan, encode the
 * chunk of every rung, store its final segments (chunk 1: and each rung's init) under the video's
 * output prefix, and report per rung the init's hash and the segments' sizes. The temp folder goes in
 * every case. A chunk outside the plan or an output that does not match it is permanent
 * (UnrecoverableError); anything else is thrown as it is for the caller to classify.
 */
export async function runChunk(
  job: ChunkJob,
  source: string,
  deps: RunChunkDeps,
  options: RunChunkOptions = {},
): Promise<ChunkDone> {
  const { signal, checkpoint } = options;
  const plan = chunkPlanOf(job);
  if (job.chunk > plan.chunks.length) {
    throw new UnrecoverableError(`chunk ${job.chunk} is not in the plan (${plan.chunks.length} chunks)`);
  }
  const log = deps.log.child({ videoId: job.videoId, chunk: job.chunk });
  const dir = await mkdtemp(join(deps.workDir, `streamlet-chunk-${job.videoId}-${job.chunk}-`));
  try {
    await checkpoint?.();
    signal?.throwIfAborted();
    const started = Date.now();
    let result: ChunkResult;
    try {
      result = await encode(job, plan, source, join(dir, "out"), deps, signal);
    } catch (err) {
      // The same source and settings give the same output: trying again cannot help.
      if (err instanceof ChunkOutputError) throw new UnrecoverableError(err.message);
      throw err;
    }
    const encodeMs = Date.now() - started;
    await checkpoint?.();
    signal?.throwIfAborted();
    const done = await upload(job, result, deps, signal);
    log.info("chunk stored", {
      encodeMs,
      segments: done.rungs[0]?.segments.length ?? 0,
      rungs: done.rungs.length,
    });
    return done;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
