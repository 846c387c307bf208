import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { DEFAULT_LADDER, TranscodeJob } from "@streamlet/shared";
import { type Job, UnrecoverableError } from "bullmq";
import type { EncoderSpec } from "./encoder.ts";
import { BadMediaError, EdgeRejectedError, errorMessage, StorageNotFoundError } from "./errors.ts";
import { AUDIO_NAME, buildLadderArgs } from "./ffmpeg-args.ts";
import { normalizeInitSegment } from "./hls-layout.ts";
import { measureVariant, parseAvcInit } from "./hls-measure.ts";
import { planLadder } from "./ladder.ts";
import { errorFields, type Logger } from "./log.ts";
import {
  AAC_LC,
  type MeasuredAudio,
  type MeasuredRung,
  toRenditions,
  writeMasterPlaylist,
} from "./master-playlist.ts";
import { makePoster, POSTER_NAME } from "./poster.ts";
import { probeFile } from "./probe.ts";
import { toNumber } from "./rational.ts";
import type { Reporter } from "./report.ts";
import { runFfmpeg } from "./run-ffmpeg.ts";
import type { Storage } from "./storage.ts";
import { contentTypeFor, uploadFolder } from "./upload.ts";

export interface ProcessDeps {
  storage: Storage;
  report: Reporter;
  log: Logger;
  workDir: string;
  ffmpegPath: string;
  ffprobePath: string;
  encoder: EncoderSpec;
  /** Minimum time between job.updateProgress calls. */
  progressIntervalMs?: number;
}

/** The subset of a BullMQ job the processor uses (tests pass a plain object). */
export type TranscodeJobLike = Pick<Job, "id" | "data" | "attemptsMade" | "opts" | "updateProgress">;

export interface TranscodeResult {
  durationSeconds: number;
  renditions: ReturnType<typeof toRenditions>;
}

/** Name of the master playlist under the output prefix. */
export const MASTER_NAME = "master.m3u8";
/** How short of the probed duration the encode may come before the source counts as truncated. */
export const DURATION_TOLERANCE = 0.1;
const MAX_REASON = 1000;

/** Whether BullMQ will give up after this attempt, so the edge must hear "failed" now. */
export function isLastAttempt(job: Pick<Job, "attemptsMade" | "opts">): boolean {
  return job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
}

/** Bad media and other permanent failures become UnrecoverableError; anything else stays retryable. */
export function classifyError(err: unknown): unknown {
  if (err instanceof UnrecoverableError) return err;
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

function throttle(fn: (value: number) => void, intervalMs: number): (value: number) => void {
  let last = 0;
  let lastValue = -1;
  return (value) => {
    const now = Date.now();
    if (value === lastValue || (now - last < intervalMs && value < 100)) return;
    last = now;
    lastValue = value;
    fn(value);
  };
}

/**
 * One transcode job, start to end: validate, report processing, download, probe, plan, encode,
 * verify, poster, upload (master last), report ready. The temp folder goes in every case.
 */
export async function processJob(
  job: TranscodeJobLike,
  deps: ProcessDeps,
  signal?: AbortSignal,
): Promise<TranscodeResult> {
  const parsed = TranscodeJob.safeParse(job.data);
  if (!parsed.success) {
    deps.log.error("invalid job payload", { jobId: job.id, issues: parsed.error.issues });
    throw new UnrecoverableError(
      `invalid job payload: ${parsed.error.issues.map((i) => i.message).join("; ")}`,
    );
  }
  const data = parsed.data;
  const log = deps.log.child({ jobId: job.id, videoId: data.videoId });
  const progress = throttle((value) => {
    job
      .updateProgress(Math.round(value))
      .catch((err) => log.warn("progress update failed", errorFields(err)));
  }, deps.progressIntervalMs ?? 2000);
  const stage = (name: string, fields?: Record<string, unknown>) => {
    signal?.throwIfAborted();
    log.info("stage", { stage: name, attempt: job.attemptsMade + 1, ...fields });
  };

  let tempDir: string | undefined;
  try {
    stage("start");
    await deps.report(data.videoId, { status: "processing" });
    tempDir = await mkdtemp(join(deps.workDir, `streamlet-${data.videoId.replace(/[^\w-]/g, "_")}-`));
    const source = join(tempDir, "source"); // no extension: ffmpeg must recognise the content, not the name
    const outDir = join(tempDir, "out");
    await mkdir(outDir);

    stage("download", { key: data.input.key });
    const bytes = await deps.storage.download(data.input.key, source, signal);
    progress(2);

    stage("probe", { bytes });
    const facts = await probeFile(source, {
      ffprobePath: deps.ffprobePath,
      ffmpegPath: deps.ffmpegPath,
      signal,
    });
    const plan = planLadder(facts, data.output.ladder ?? DEFAULT_LADDER);
    stage("plan", { facts, rungs: plan.rungs, fps: plan.fps });

    const started = Date.now();
    await runFfmpeg(
      buildLadderArgs({
        input: source,
        outDir,
        facts,
        rungs: plan.rungs,
        fps: plan.fps,
        encoder: deps.encoder,
      }),
      {
        ffmpegPath: deps.ffmpegPath,
        signal,
        durationSeconds: facts.durationSeconds,
        onProgress: (percent) => progress(5 + percent * 0.85),
      },
    );
    const encodeSeconds = (Date.now() - started) / 1000;

    stage("verify", { encodeSeconds, realtimeFactor: facts.durationSeconds / encodeSeconds });
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
    progress(92);

    stage("upload", { prefix: data.output.prefix });
    const master = writeMasterPlaylist({ rungs, audio });
    const files = await uploadFolder(deps.storage, outDir, data.output.prefix, signal);
    // Master last: once it exists, every file it points to already does.
    await deps.storage.putBody(
      `${data.output.prefix}${MASTER_NAME}`,
      master,
      contentTypeFor(MASTER_NAME),
      signal,
    );
    progress(99);

    const renditions = toRenditions({ rungs, audio });
    const durationSeconds = Math.round(encoded * 1000) / 1000;
    await deps.report(data.videoId, {
      status: "ready",
      durationSeconds,
      sourceWidth: facts.width,
      sourceHeight: facts.height,
      renditions,
    });
    progress(100);
    log.info("stage", { stage: "done", files: files + 1, durationSeconds, encodeSeconds });
    return { durationSeconds, renditions };
  } catch (err) {
    const final = classifyError(err);
    const permanent = final instanceof UnrecoverableError;
    log.error("job failed", { ...errorFields(err), permanent, lastAttempt: isLastAttempt(job) });
    if (permanent || isLastAttempt(job)) {
      await deps
        .report(data.videoId, { status: "failed", reason: failureReason(final) })
        .catch((reportErr) => log.error("could not report failure", errorFields(reportErr)));
    }
    throw final;
  } finally {
    if (tempDir) await rm(tempDir, { recursive: true, force: true });
  }
}
