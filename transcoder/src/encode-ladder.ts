import { mkdir, rm } from "node:fs/promises";
import type { Logger } from "./log.ts";
import {
  buildLadderArgs,
  type EncoderSpec,
  type FallBackDecision,
  FfmpegDeadlineError,
  FfmpegError,
  FfmpegStalledError,
  type FfmpegStats,
  type LadderPlan,
  type MediaFacts,
  runFfmpeg,
  shouldFallBack,
} from "./media/index.ts";
import type { SessionBudget } from "./nvenc-budget.ts";

/** What one job's encode reads and writes. */
export interface LadderJob {
  source: string;
  /** Emptied and written again when the ladder is encoded a second time. */
  outDir: string;
  facts: MediaFacts;
  plan: LadderPlan;
  /** Largest decoded frame allowed (-max_pixels), from the source limits. */
  maxPixels?: number;
}

export interface EncodeOptions {
  ffmpegPath: string;
  /** The encoder this process runs with (decided at start-up by the encoder probe). */
  encoder: EncoderSpec;
  /** Where a failed NVENC encode goes (x264), in the same attempt; none: the failure stands. */
  fallbackEncoder?: EncoderSpec;
  /** NVENC sessions of this process: an NVENC encode holds one per rung while it runs. */
  sessions?: SessionBudget;
  /** Kill an encode whose ffmpeg prints nothing for this long. */
  stallTimeoutMs?: number;
  /** Kill an encode that runs longer than this in all (FfmpegDeadlineError: no fallback, no retry). */
  timeoutMs?: number;
  /**
   * Address-space ceiling of an x264 encode. Not applied to NVENC: CUDA reserves tens of GB of address
   * space it never touches, so any useful ceiling would break it.
   */
  memoryLimitBytes?: number;
  onStats?: (stats: FfmpegStats) => void;
  /** Told about a recognised NVENC failure, so the worker can re-probe before its next job. */
  onNvencFailure?: (decision: FallBackDecision) => void;
  log: Logger;
  signal: AbortSignal;
}

/** Runs the whole ladder once with `encoder`, holding one NVENC session per rung when it is NVENC. */
export function encodeOnce(job: LadderJob, encoder: EncoderSpec, options: EncodeOptions): Promise<void> {
  const args = buildLadderArgs({
    input: job.source,
    outDir: job.outDir,
    facts: job.facts,
    rungs: job.plan.rungs,
    fps: job.plan.fps,
    encoder,
    maxPixels: job.maxPixels,
  });
  const run = () =>
    runFfmpeg(args, {
      ffmpegPath: options.ffmpegPath,
      signal: options.signal,
      durationSeconds: job.facts.durationSeconds,
      stallTimeoutMs: options.stallTimeoutMs,
      timeoutMs: options.timeoutMs,
      memoryLimitBytes: encoder.kind === "nvenc" ? undefined : options.memoryLimitBytes,
      onStats: options.onStats,
    });
  if (encoder.kind === "nvenc" && options.sessions) {
    return options.sessions.run(job.plan.rungs.length, run, options.signal);
  }
  return run();
}

/** Whether a failed encode is encoded again with the fallback encoder, and what was recognised. */
export type FallbackVerdict = { fallBack: false } | { fallBack: true; decision: FallBackDecision | null };

/**
 * The encoder-fallback policy. Any failure of an NVENC ladder run (a known NVENC/CUDA cause, a stall,
 * or one we cannot name: CUDA out of memory, a decoder surprise) is encoded again on the CPU, at once:
 * a video must not fail for the GPU's sake, and a bad source fails the CPU encode too and says so.
 * Never after an abort (shutdown, deleted video), never past the deadline (the fallback would get a
 * second one), never for x264, never without a fallback encoder.
 * `decision` names the NVENC failure when stderr shows one (a stall shows none).
 */
export function fallbackVerdict(
  err: unknown,
  encoder: EncoderSpec,
  hasFallback: boolean,
  aborted: boolean,
): FallbackVerdict {
  if (
    encoder.kind !== "nvenc" ||
    !(err instanceof FfmpegError) ||
    err instanceof FfmpegDeadlineError ||
    aborted ||
    !hasFallback
  ) {
    return { fallBack: false };
  }
  const decision = err instanceof FfmpegStalledError ? null : shouldFallBack(err.stderrTail);
  return { fallBack: true, decision };
}

/** Encodes the ladder, applying the fallback policy once; returns the encoder that produced the output. */
export async function encodeWithFallback(job: LadderJob, options: EncodeOptions): Promise<EncoderSpec> {
  try {
    await encodeOnce(job, options.encoder, options);
    return options.encoder;
  } catch (err) {
    const verdict = fallbackVerdict(
      err,
      options.encoder,
      options.fallbackEncoder !== undefined,
      options.signal.aborted,
    );
    const fallback = options.fallbackEncoder;
    if (!verdict.fallBack || !fallback) throw err;
    const { decision } = verdict;
    options.log.warn("NVENC encode failed mid-job; encoding this job with the fallback encoder", {
      kind: decision?.failure.kind ?? "unrecognised",
      error: decision?.failure.message ?? (err as Error).message,
      hint: decision?.failure.hint,
      fallback: fallback.kind,
    });
    if (decision) options.onNvencFailure?.(decision);
    await rm(job.outDir, { recursive: true, force: true });
    await mkdir(job.outDir);
    await encodeOnce(job, fallback, options);
    return fallback;
  }
}
