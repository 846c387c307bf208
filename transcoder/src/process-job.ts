import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { DEFAULT_LADDER, TranscodeJob } from "@streamlet/shared";
import { type Job, UnrecoverableError } from "bullmq";
import type { EncoderSpec } from "./encoder.ts";
import { type FallBackDecision, shouldFallBack } from "./encoder-probe.ts";
import {
  BadMediaError,
  EdgeRejectedError,
  errorMessage,
  type JobCancelledError,
  StorageNotFoundError,
} from "./errors.ts";
import { AUDIO_NAME, buildLadderArgs } from "./ffmpeg-args.ts";
import { normalizeInitSegment } from "./hls-layout.ts";
import { measureVariant, parseAvcInit } from "./hls-measure.ts";
import { createJobProgress } from "./job-progress.ts";
import { planLadder } from "./ladder.ts";
import { errorFields, type Logger } from "./log.ts";
import {
  AAC_LC,
  type MeasuredAudio,
  type MeasuredRung,
  toRenditions,
  writeMasterPlaylist,
} from "./master-playlist.ts";
import type { SessionBudget } from "./nvenc-budget.ts";
import { makePoster, POSTER_NAME } from "./poster.ts";
import { probeFile } from "./probe.ts";
import type { ProgressPublisher } from "./progress-publisher.ts";
import { toNumber } from "./rational.ts";
import { FfmpegError, FfmpegStalledError, type FfmpegStats, runFfmpeg } from "./run-ffmpeg.ts";
import { watchSegments } from "./segment-watch.ts";
import type { Storage } from "./storage.ts";
import { contentTypeFor, uploadFolder } from "./upload.ts";

/** Opens the progress channel for one job attempt (the video's Durable Object, or a fake in tests). */
export type OpenProgress = (channel: {
  videoId: string;
  token: string;
  attempt: number;
}) => ProgressPublisher;

export interface ProcessDeps {
  storage: Storage;
  openProgress: OpenProgress;
  log: Logger;
  workDir: string;
  ffmpegPath: string;
  ffprobePath: string;
  /** The encoder this process runs with (decided at start-up by the encoder probe). */
  encoder: EncoderSpec;
  /**
   * Where a job goes when its NVENC encode fails for a GPU reason (session limit, driver gone): the
   * ladder is encoded again with this one (x264) in the same attempt, instead of failing the video.
   */
  fallbackEncoder?: EncoderSpec;
  /** Told about such a failure, so the worker can re-probe before its next job. */
  onNvencFailure?: (decision: FallBackDecision) => void;
  /** NVENC sessions of this process: an NVENC encode holds one per rung while it runs. */
  sessions?: SessionBudget;
  /** Live encode figures (ffmpeg's fps and speed = realtime factor), for metrics. */
  onEncodeStats?: (stats: FfmpegStats) => void;
  /** The finished encode: which encoder did it, and how fast (seconds of video per wall second). */
  onEncoded?: (result: { encoder: EncoderSpec["kind"]; realtimeFactor: number; seconds: number }) => void;
  /** Kill an encode whose ffmpeg prints nothing for this long (a wedged GPU or read); the attempt fails. */
  encodeStallTimeoutMs?: number;
  /** How often to count each rung's finished segments while ffmpeg runs. */
  segmentPollMs?: number;
}

/** The subset of a BullMQ job the processor uses (tests pass a plain object). */
export type TranscodeJobLike = Pick<Job, "id" | "data" | "attemptsMade" | "attemptsStarted" | "opts">;

export interface TranscodeResult {
  durationSeconds: number;
  renditions: ReturnType<typeof toRenditions>;
}

/** Name of the master playlist under the output prefix. */
export const MASTER_NAME = "master.m3u8";
/** How short of the probed duration the encode may come before the source counts as truncated. */
export const DURATION_TOLERANCE = 0.1;
const MAX_REASON = 1000;

/** Whether BullMQ will give up after this attempt, so subscribers must hear "failed" now. */
export function isLastAttempt(job: Pick<Job, "attemptsMade" | "opts">): boolean {
  return job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
}

/** Bad media and other permanent failures become UnrecoverableError; anything else stays retryable. */
export function classifyError(err: unknown): unknown {
  if (err instanceof UnrecoverableError) return err; // JobCancelledError included
  if (err instanceof BadMediaError) return new UnrecoverableError(err.message);
  if (err instanceof StorageNotFoundError) {
    return new UnrecoverableError(
      "The uploaded file was not found in storage (the upload may not have completed)",
    );
  }
  if (err instanceof EdgeRejectedError) return new UnrecoverableError(err.message);
  return err;
}

/** The reason shown to the uploader: bad-media reasons verbatim, other failures prefixed. */
export function failureReason(err: unknown): string {
  const message = errorMessage(err) || "unknown error";
  const reason = err instanceof UnrecoverableError ? message : `Processing failed: ${message}`;
  return reason.slice(0, MAX_REASON);
}

/** Removes what a cancelled job uploaded; logged, never thrown (the job ends cancelled either way). */
async function removeOutput(storage: Storage, prefix: string, log: Logger): Promise<void> {
  try {
    const removed = await storage.deletePrefix(prefix);
    log.info("removed the cancelled job's output", { prefix, objects: removed });
  } catch (err) {
    log.error("could not remove the cancelled job's output", { prefix, ...errorFields(err) });
  }
}

/**
 * One transcode job, start to end: validate, download, probe, plan, encode, verify, poster, upload
 * (master last), publish ready, publishing progress to the video's DO throughout. The temp folder and
 * the progress socket go in every case.
 *
 * Stopping: when `signal` aborts (shutdown hand-back, lost lock) ffmpeg is killed, uploads stop and
 * `signal.reason` is rethrown untouched, with no "failed" event: the video is not at fault and the job
 * runs again. When the edge says the video was deleted, the job stops the same way, removes everything
 * it uploaded and ends with a JobCancelledError (no retry).
 */
export async function processJob(
  job: TranscodeJobLike,
  deps: ProcessDeps,
  shutdown?: AbortSignal,
): Promise<TranscodeResult> {
  const parsed = TranscodeJob.safeParse(job.data);
  if (!parsed.success) {
    deps.log.error("invalid job payload", { jobId: job.id, issues: parsed.error.issues });
    throw new UnrecoverableError(
      `invalid job payload: ${parsed.error.issues.map((i) => i.message).join("; ")}`,
    );
  }
  const data = parsed.data;
  // attemptsStarted counts this attempt (and stalled restarts), so each attempt numbers above the last.
  const attempt = Math.max(job.attemptsStarted ?? 0, job.attemptsMade + 1);
  const log = deps.log.child({ jobId: job.id, videoId: data.videoId });
  const publisher = deps.openProgress({ videoId: data.videoId, token: data.progressToken, attempt });
  const signal = shutdown ? AbortSignal.any([shutdown, publisher.cancelled]) : publisher.cancelled;
  const stage = (name: string, fields?: Record<string, unknown>) => {
    signal?.throwIfAborted();
    // Refused for good (the video is gone, bad credentials): the outcome could never be recorded.
    if (publisher.refusal) throw publisher.refusal;
    log.info("stage", { stage: name, attempt, ...fields });
  };

  const progress = createJobProgress(publisher, log);
  let tempDir: string | undefined;
  try {
    stage("start");
    // The first event after "queued" is what marks the video processing.
    progress.downloading(0, null);
    tempDir = await mkdtemp(join(deps.workDir, `streamlet-${data.videoId.replace(/[^\w-]/g, "_")}-`));
    const source = join(tempDir, "source"); // no extension: ffmpeg must recognise the content, not the name
    const outDir = join(tempDir, "out");
    await mkdir(outDir);

    stage("download", { key: data.input.key });
    const bytes = await deps.storage.download(data.input.key, source, signal, progress.downloading);
    progress.downloading(bytes, bytes);

    stage("probe", { bytes });
    progress.probing();
    const facts = await probeFile(source, {
      ffprobePath: deps.ffprobePath,
      ffmpegPath: deps.ffmpegPath,
      signal,
    });
    const plan = planLadder(facts, data.output.ladder ?? DEFAULT_LADDER);
    stage("plan", { facts, rungs: plan.rungs, fps: plan.fps });

    progress.transcodingStarted(plan.rungs, facts.durationSeconds, toNumber(plan.fps));
    const started = Date.now();
    const watcher = watchSegments(
      outDir,
      plan.rungs.map((r) => r.name),
      progress.rungSegments,
      deps.segmentPollMs,
    );
    const encode = async (encoder: EncoderSpec) => {
      const args = buildLadderArgs({
        input: source,
        outDir,
        facts,
        rungs: plan.rungs,
        fps: plan.fps,
        encoder,
      });
      const run = () =>
        runFfmpeg(args, {
          ffmpegPath: deps.ffmpegPath,
          signal,
          durationSeconds: facts.durationSeconds,
          stallTimeoutMs: deps.encodeStallTimeoutMs,
          onStats: (stats) => {
            progress.ffmpegStats(stats);
            deps.onEncodeStats?.(stats);
          },
        });
      // One NVENC session per rung, held for the whole encode (the session budget's unit).
      if (encoder.kind === "nvenc" && deps.sessions) return deps.sessions.run(plan.rungs.length, run, signal);
      return run();
    };
    let encoder = deps.encoder;
    try {
      try {
        await encode(encoder);
      } catch (err) {
        const gpuRun = err instanceof FfmpegError || err instanceof FfmpegStalledError;
        if (encoder.kind !== "nvenc" || !gpuRun || signal.aborted || !deps.fallbackEncoder) throw err;
        // Any failure of the GPU ladder (a known NVENC/CUDA cause, or one we cannot name: CUDA out of
        // memory, a decoder surprise) is encoded again on the CPU, now: a video must not fail for the
        // GPU's sake. If the source itself is bad, the CPU encode fails too and says so.
        const decision = err instanceof FfmpegError ? shouldFallBack(err.stderrTail) : null;
        log.warn("NVENC encode failed mid-job; encoding this job with the fallback encoder", {
          kind: decision?.failure.kind ?? "unrecognised",
          error: decision?.failure.message ?? err.message,
          hint: decision?.failure.hint,
          fallback: deps.fallbackEncoder.kind,
        });
        if (decision) deps.onNvencFailure?.(decision);
        await rm(outDir, { recursive: true, force: true });
        await mkdir(outDir);
        encoder = deps.fallbackEncoder;
        await encode(encoder);
      }
    } finally {
      watcher.stop();
    }
    const encodeSeconds = (Date.now() - started) / 1000;
    progress.transcoded();
    deps.onEncoded?.({
      encoder: encoder.kind,
      realtimeFactor: facts.durationSeconds / encodeSeconds,
      seconds: encodeSeconds,
    });

    stage("verify", {
      encoder: encoder.kind,
      encodeSeconds,
      realtimeFactor: facts.durationSeconds / encodeSeconds,
    });
    const names = [...plan.rungs.map((r) => r.name), ...(facts.hasAudio ? [AUDIO_NAME] : [])];
    for (const name of names) await normalizeInitSegment(join(outDir, name));
    const fps = toNumber(plan.fps);
    const rungs: MeasuredRung[] = [];
    const durations: number[] = [];
    const segmentCounts = new Set<number>();
    for (const rung of plan.rungs) {
      const measured = await measureVariant(join(outDir, rung.name));
      if (measured.stats.segmentCount === 0 || !measured.init)
        throw new Error(`rung ${rung.name} has no segments`);
      const avc = parseAvcInit(measured.init);
      segmentCounts.add(measured.stats.segmentCount);
      durations.push(measured.stats.durationSeconds);
      rungs.push({
        name: rung.name,
        width: avc.width,
        height: avc.height,
        peakBitrate: measured.stats.peakBitrate,
        averageBitrate: measured.stats.averageBitrate,
        codecs: avc.codecs,
        frameRate: fps,
      });
    }
    if (segmentCounts.size > 1)
      throw new Error(`rungs have different segment counts: ${[...segmentCounts].join(", ")}`);
    let audio: MeasuredAudio | null = null;
    if (facts.hasAudio) {
      const measured = await measureVariant(join(outDir, AUDIO_NAME));
      if (measured.stats.segmentCount === 0) throw new Error("audio variant has no segments");
      durations.push(measured.stats.durationSeconds);
      audio = { ...measured.stats, codecs: AAC_LC, channels: 2 };
    }
    const encoded = Math.max(...durations);
    if (encoded < facts.durationSeconds * (1 - DURATION_TOLERANCE)) {
      throw new BadMediaError(
        `The uploaded file appears truncated: decoded ${encoded.toFixed(1)} s of ${facts.durationSeconds.toFixed(1)} s`,
      );
    }

    stage("poster");
    await makePoster(source, join(outDir, POSTER_NAME), facts, { ffmpegPath: deps.ffmpegPath, signal });

    stage("upload", { prefix: data.output.prefix });
    const master = writeMasterPlaylist({ rungs, audio });
    // The master playlist is one more file after the folder.
    const files = await uploadFolder(deps.storage, outDir, data.output.prefix, signal, (done, total) =>
      progress.uploading(done, total + 1),
    );
    // Master last: once it exists, every file it points to already does.
    await deps.storage.putBody(
      `${data.output.prefix}${MASTER_NAME}`,
      master,
      contentTypeFor(MASTER_NAME),
      signal,
    );
    progress.uploading(files + 1, files + 1);

    const renditions = toRenditions({ rungs, audio });
    const durationSeconds = Math.round(encoded * 1000) / 1000;
    // Resolves once the DO has the ready event in Postgres; a timeout fails the attempt (retried).
    await progress.ready({
      durationSeconds,
      sourceWidth: facts.width,
      sourceHeight: facts.height,
      renditions,
    });
    log.info("stage", { stage: "done", files: files + 1, durationSeconds, encodeSeconds });
    return { durationSeconds, renditions };
  } catch (err) {
    if (publisher.cancelled.aborted) {
      const cancelled = publisher.cancelled.reason as JobCancelledError;
      log.warn("job cancelled", { reason: cancelled.message, during: errorMessage(err) });
      await removeOutput(deps.storage, data.output.prefix, log);
      throw cancelled;
    }
    if (shutdown?.aborted) {
      log.warn("job interrupted; it will run again", { reason: errorMessage(shutdown.reason) });
      throw shutdown.reason ?? err;
    }
    const final = classifyError(err);
    const permanent = final instanceof UnrecoverableError;
    log.error("job failed", { ...errorFields(err), permanent, lastAttempt: isLastAttempt(job) });
    if (permanent || isLastAttempt(job)) {
      await progress
        .failed(failureReason(final))
        .catch((publishErr) => log.error("could not publish the failure", errorFields(publishErr)));
    }
    throw final;
  } finally {
    publisher.close();
    if (tempDir) await rm(tempDir, { recursive: true, force: true });
  }
}
