import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  AUDIO_FOLDER,
  contentTypeFor,
  DEFAULT_LADDER,
  type DeliveryAssets,
  INIT_SEGMENT,
  outputPrefix,
  POSTER,
  type Rendition,
  runOf,
  SEGMENT_SECONDS,
  seqAttempt,
  sourceKey,
  TranscodeJob,
} from "@streamlet/shared";
import { type Job, UnrecoverableError } from "bullmq";
import { createLocalChunkRunner } from "./chunked/local-runner.ts";
import { BACKGROUND_NICENESS } from "./chunked/run-chunk.ts";
import type { SourceCache } from "./chunked/source-cache.ts";
import type { ChunkRunner } from "./chunked/types.ts";
import { DEFAULT_FFMPEG_TIME_LIMIT } from "./config.ts";
import { type Delivered, prepareDelivery } from "./deliver.ts";
import { fallbackVerdict } from "./encode-ladder.ts";
import { EdgeRejectedError, errorMessage, type JobCancelledError, StorageNotFoundError } from "./errors.ts";
import { ImportError } from "./import/import-source.ts";
import type { SourceImporter } from "./import/job-import.ts";
import { createJobProgress, type JobProgress } from "./job-progress.ts";
import { errorFields, type Logger } from "./log.ts";
import {
  type AudioSegment,
  BadMediaError,
  DEFAULT_CHUNK_SECONDS,
  DEFAULT_SOURCE_LIMITS,
  type EncoderSpec,
  encodeAudio,
  type FallBackDecision,
  FfmpegDeadlineError,
  type FfmpegStats,
  type LadderPlan,
  type MediaFacts,
  makePoster,
  maxPixelsOf,
  mediaDeadlineMs,
  planChunks,
  planLadder,
  probeFile,
  probeHeader,
  type SourceLimits,
  toNumber,
} from "./media/index.ts";
import type { SessionBudget } from "./nvenc-budget.ts";
import type { ProgressPublisher } from "./progress-publisher.ts";
import { audioSegmentKey, createPublication, type Publication } from "./publication.ts";
import { MAX_PRESIGN_SECONDS, type Storage } from "./storage.ts";

/** Opens the progress channel for one job attempt (the video's Durable Object, or a fake in tests). */
export type OpenProgress = (channel: {
  videoId: string;
  token: string;
  /**
   * The attempt counted across the video's runs (seqAttempt(run, attempt); the attempt itself in the
   * first run): the publisher numbers its events from attempt * SEQ_EPOCH, above every earlier attempt
   * and run, so the video's progress object takes a retried video's events as new.
   */
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
  /** What an upload may ask for (duration, size, rates); the media core's defaults when absent. */
  sourceLimits?: SourceLimits;
  /** Imports a source from its URL (jobs with input.url); such jobs fail without one. */
  importSource?: SourceImporter;
  /** Each ffmpeg run over the source is killed past max(minimumMs, factor x the video's duration). */
  ffmpegTimeLimit?: { factor: number; minimumMs: number };
  /** Address-space ceiling of every ffmpeg/ffprobe run over the source (not NVENC encodes); none when absent. */
  ffmpegMemoryLimitBytes?: number;
  /** How often to count each rung's finished segments while ffmpeg runs. */
  segmentPollMs?: number;
  /**
   * Where the video's chunks are encoded: the chunk queue (any node, chunked/queue-runner.ts) in the
   * worker; in-process, one after another, when absent (chunked/local-runner.ts).
   */
  chunkRunner?: ChunkRunner;
  /** Length of the chunks after the opening ones (planChunks); DEFAULT_CHUNK_SECONDS when absent. */
  chunkSeconds?: number;
  /** The node's source cache, shared with its chunk worker; a download of the job's own when absent. */
  sources?: SourceCache;
}

/** The subset of a BullMQ job the processor uses (tests pass a plain object). */
export type TranscodeJobLike = Pick<Job, "id" | "data" | "attemptsMade" | "attemptsStarted" | "opts">;

export interface TranscodeResult {
  durationSeconds: number;
  renditions: Rendition[];
}

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
  if (err instanceof ImportError && !err.transient) {
    return new UnrecoverableError(`The video could not be imported: ${err.message}`);
  }
  if (err instanceof FfmpegDeadlineError) {
    return new UnrecoverableError(
      `Processing took too long and was stopped (${err.message}); the video may be too long or too complex for this server`,
    );
  }
  return err;
}

/** The reason shown to the uploader: bad-media reasons verbatim, other failures prefixed. */
export function failureReason(err: unknown): string {
  const message = errorMessage(err) || "unknown error";
  const reason = err instanceof UnrecoverableError ? message : `Processing failed: ${message}`;
  return reason.slice(0, MAX_REASON);
}

/** One attempt of one job, as every step sees it. */
interface Attempt {
  data: TranscodeJob;
  number: number;
  deps: ProcessDeps;
  log: Logger;
  publisher: ProgressPublisher;
  progress: JobProgress;
  /** Aborts on shutdown/lost lock (from the worker) and when the edge says the video was deleted. */
  signal: AbortSignal;
  /** Marks a stage in the log; throws once the attempt was stopped or refused for good. */
  stage(name: string, fields?: Record<string, unknown>): void;
}

/** A payload that does not match the contract can never succeed: fail it without retries. */
function parseJob(job: TranscodeJobLike, log: Logger): TranscodeJob {
  const parsed = TranscodeJob.safeParse(job.data);
  if (parsed.success) return parsed.data;
  log.error("invalid job payload", { jobId: job.id, issues: parsed.error.issues });
  throw new UnrecoverableError(
    `invalid job payload: ${parsed.error.issues.map((i) => i.message).join("; ")}`,
  );
}

function startAttempt(job: TranscodeJobLike, deps: ProcessDeps, shutdown?: AbortSignal): Attempt {
  const data = parseJob(job, deps.log);
  // attemptsStarted counts this attempt (and stalled restarts), so each attempt numbers above the last.
  const number = Math.max(job.attemptsStarted ?? 0, job.attemptsMade + 1);
  const run = runOf(data);
  const log = deps.log.child({ jobId: job.id, videoId: data.videoId, ...(run > 1 ? { run } : {}) });
  const publisher = deps.openProgress({
    videoId: data.videoId,
    token: data.progressToken,
    attempt: seqAttempt(run, number),
  });
  const signal = shutdown ? AbortSignal.any([shutdown, publisher.cancelled]) : publisher.cancelled;
  return {
    data,
    number,
    deps,
    log,
    publisher,
    progress: createJobProgress(publisher, log),
    signal,
    stage(name, fields) {
      signal.throwIfAborted();
      // Refused for good (the video is gone, bad credentials): the outcome could never be recorded.
      if (publisher.refusal) throw publisher.refusal;
      log.info("stage", { stage: name, attempt: number, ...fields });
    },
  };
}

/**
 * Step 0, for a video created from a URL: the node downloads it into storage as the source (unless an
 * earlier attempt did), reporting it as the download; then the job goes on as for an upload.
 */
async function importIfAsked(a: Attempt): Promise<void> {
  const { url, key, maxBytes } = a.data.input;
  if (!url) return;
  if (!a.deps.importSource) throw new UnrecoverableError("This transcoder cannot import sources from URLs");
  a.stage("import", { maxBytes });
  const bytes = await a.deps.importSource({
    url,
    key,
    maxBytes: maxBytes ?? Number.MAX_SAFE_INTEGER,
    signal: a.signal,
    onProgress: (done, total) => a.progress.downloading(done, total),
  });
  a.log.info(bytes === null ? "source imported by an earlier attempt" : "source imported", { bytes });
}

/** The coordinator's source: a presigned URL at once, the whole file on this node once downloaded. */
interface AttemptSource {
  /** A presigned URL of the source valid for `seconds` (capped at SigV4's 7 days). */
  url(seconds: number): Promise<string>;
  /** The download, started by the first call (the same promise after it); rejects like it. */
  file(): Promise<{ path: string; bytes: number }>;
  /** Stops the download if it still runs and lets the node's copy go (idempotent). */
  release(): void;
  /** Settles once a started download has let go of its file (at once when none started). */
  settled(): Promise<void>;
}

/**
 * Step 1: the source, two ways. A presigned URL lets ffmpeg read it at once; its download (into the
 * node's cache, which this node's chunks share, or a temp file with no extension: ffmpeg must recognise
 * the content) starts when something first needs the file: the probe when the URL does not work,
 * otherwise once the video's first chunk is stored (encodeAndPublishWith), so that on this node the
 * download does not take CPU from the encode that makes the video playable. The key is derived from the
 * video id, never read from the payload (storage keys are not the queue's to choose).
 */
function startSource(a: Attempt, tempFile: string): AttemptSource {
  const key = sourceKey(a.data.videoId);
  a.stage("source", { key });
  const stop = new AbortController();
  const signal = AbortSignal.any([a.signal, stop.signal]);
  let releaseLease = () => {};
  let file: Promise<{ path: string; bytes: number }> | undefined;
  const download = async () => {
    signal.throwIfAborted();
    a.log.info("source download started", { key });
    const sources = a.deps.sources;
    if (!sources) return { path: tempFile, bytes: await a.deps.storage.download(key, tempFile, signal) };
    const lease = await sources.acquire(a.data.videoId, signal);
    releaseLease = lease.release;
    if (stop.signal.aborted) lease.release();
    const { size } = await stat(lease.path);
    return { path: lease.path, bytes: size };
  };
  return {
    url: (seconds) => a.deps.storage.presignGet(key, Math.min(MAX_PRESIGN_SECONDS, Math.ceil(seconds))),
    file() {
      if (!file) {
        file = download();
        file.catch(() => undefined); // awaited where it is needed, or dropped with a failed attempt
      }
      return file;
    },
    release() {
      stop.abort(new Error("the attempt is over"));
      releaseLease();
    },
    settled: async () => {
      await file?.catch(() => undefined);
    },
  };
}

/** What the probe step decided. */
interface Probed {
  facts: MediaFacts;
  plan: LadderPlan;
  /**
   * Whether ffprobe read the header over the URL: then chunk 1 and the audio read it too and start at
   * once, and `verify` downloads the whole file and probes it (every packet counted).
   */
  streamed: boolean;
  /** The whole file's probe (once, however often called); settled at once when it went first. */
  verify(): Promise<void>;
}

/** How long the URL ffprobe reads the header from lives. */
const PROBE_URL_SECONDS = 600;

/**
 * Steps 2 and 3: what the source is, and the ladder planned for it. The header is read over the URL
 * (a few range requests, whatever the size); the full probe runs on the downloaded file beside the
 * encode and fails the video if the file breaks a limit only every packet shows. When the header alone
 * does not tell (no duration in it) or cannot be read over HTTP (a storage endpoint ffmpeg cannot
 * reach; bad media, whose reason then comes from the full probe), the full probe goes first.
 */
async function probeAndPlan(a: Attempt, source: AttemptSource): Promise<Probed> {
  a.stage("probe");
  a.progress.probing();
  const options = {
    ffprobePath: a.deps.ffprobePath,
    ffmpegPath: a.deps.ffmpegPath,
    signal: a.signal,
    limits: a.deps.sourceLimits,
    memoryLimitBytes: a.deps.ffmpegMemoryLimitBytes,
  };
  const fullProbe = async () => probeFile((await source.file()).path, options);
  let header: MediaFacts | null = null;
  try {
    header = await probeHeader(await source.url(PROBE_URL_SECONDS), options);
  } catch (err) {
    a.signal.throwIfAborted();
    a.log.warn("could not read the source's header over its URL; probing the download", errorFields(err));
  }
  const streamed = header !== null;
  let verified: Promise<void> | undefined = streamed ? undefined : Promise.resolve();
  const verify = () => {
    verified ??= fullProbe().then(() => undefined);
    return verified;
  };
  const facts = header ?? (await fullProbe());
  const plan = planLadder(facts, a.data.output.ladder ?? DEFAULT_LADDER);
  a.stage("plan", { facts, rungs: plan.rungs, fps: plan.fps, streamed });
  return { facts, plan, streamed, verify };
}

/** What the encode step reports: which encoder did it and how fast. */
interface Encoded {
  encoder: EncoderSpec["kind"];
  encodeSeconds: number;
  /** Seconds of video per wall-clock second. */
  realtimeFactor: number;
  chunks: number;
}

/** The wall-clock limit of one ffmpeg run over this source. */
function ffmpegDeadline(deps: ProcessDeps, facts: Pick<MediaFacts, "durationSeconds">): number {
  const { factor, minimumMs } = deps.ffmpegTimeLimit ?? DEFAULT_FFMPEG_TIME_LIMIT;
  return mediaDeadlineMs(facts.durationSeconds, factor, minimumMs);
}

/** The in-process runner: the video's chunks one after another on this node, from its copy of the source. */
function localChunkRunner(deps: ProcessDeps, encoder: EncoderSpec): ChunkRunner {
  return createLocalChunkRunner({
    storage: deps.storage,
    log: deps.log,
    workDir: deps.workDir,
    ffmpegPath: deps.ffmpegPath,
    encoder,
    sessions: deps.sessions,
    encodeStallTimeoutMs: deps.encodeStallTimeoutMs,
    ffmpegTimeLimit: deps.ffmpegTimeLimit,
    ffmpegMemoryLimitBytes: deps.ffmpegMemoryLimitBytes,
    sourceLimits: deps.sourceLimits,
    onEncodeStats: deps.onEncodeStats,
  });
}

/** What the encode step works from. */
interface EncodeInput {
  source: AttemptSource;
  probed: Probed;
  outDir: string;
  maxPixels: number;
}

/** Where ffmpeg reads the source for a run that should start at once: the URL when it works, else the file. */
async function immediateInput(a: Attempt, job: EncodeInput): Promise<string> {
  if (!job.probed.streamed) return (await job.source.file()).path;
  return job.source.url(ffmpegDeadline(a.deps, job.probed.facts) / 1000 + 60);
}

/**
 * Step 4: the video in chunks (any node takes any chunk), audio once beside them, each stored chunk
 * published at once: the rungs' EVENT playlists grow, and the master playlist goes out with the first
 * segment of every rung and the audio, which makes the video playable (publication.ts).
 */
async function encodeAndPublish(
  a: Attempt,
  job: EncodeInput,
): Promise<{ encoded: Encoded; publication: Publication }> {
  const { deps } = a;
  try {
    return await encodeAndPublishWith(a, job, deps.encoder);
  } catch (err) {
    // The fallback policy of the one-pass encode (encode-ladder.ts), for the in-process runner: an NVENC
    // failure encodes the whole video again on the CPU, since every chunk of a rung must share one init.
    const fallback = deps.fallbackEncoder;
    const verdict = fallbackVerdict(err, deps.encoder, fallback !== undefined, a.signal.aborted);
    if (!verdict.fallBack || !fallback || deps.chunkRunner) throw err;
    const { decision } = verdict;
    a.log.warn("NVENC encode failed mid-job; encoding this job with the fallback encoder", {
      kind: decision?.failure.kind ?? "unrecognised",
      error: decision?.failure.message ?? errorMessage(err),
      hint: decision?.failure.hint,
      fallback: fallback.kind,
    });
    if (decision) deps.onNvencFailure?.(decision);
    return await encodeAndPublishWith(a, job, fallback);
  }
}

async function encodeAndPublishWith(
  a: Attempt,
  job: EncodeInput,
  encoder: EncoderSpec,
): Promise<{ encoded: Encoded; publication: Publication }> {
  const { deps, progress } = a;
  const { facts, plan } = job.probed;
  const chunkSeconds = deps.chunkSeconds ?? DEFAULT_CHUNK_SECONDS;
  // The video stream's own length decides the frames: the container's can include a longer audio track.
  const chunkPlan = planChunks({
    durationSeconds: facts.videoDurationSeconds ?? facts.durationSeconds,
    fps: plan.fps,
    chunkSeconds,
  });
  const chunkCount = chunkPlan.chunks.length;
  a.stage("encode", { chunks: chunkCount, segments: chunkPlan.segments.length });
  progress.transcodingStarted(plan.rungs, facts.durationSeconds, toNumber(plan.fps), chunkCount);
  const publication = createPublication({
    videoId: a.data.videoId,
    storage: deps.storage,
    rungs: plan.rungs,
    plan: chunkPlan,
    hasAudio: facts.hasAudio,
    workDir: job.outDir,
    signal: a.signal,
    onPublished: (name, segments) => progress.rungSegments(name, segments),
    onPlayable: () => {
      a.log.info("stage", { stage: "playable", attempt: a.number });
      progress.playable(1, chunkPlan.segments.length);
    },
  });
  const started = Date.now();
  const ends = chunkPlan.segments.map((seg) => seg.startSeconds + seg.durationSeconds);
  const audio = facts.hasAudio ? encodeAndStoreAudio(a, job, publication, ends) : Promise.resolve();
  // Stop the chunks when the audio fails (or the video is deleted); a shutdown or a lost lock only stops
  // this coordinator waiting: queued chunks run on for the coordinator that takes the video over.
  const local = new AbortController();
  const cancel = AbortSignal.any([a.publisher.cancelled, local.signal]);
  let chunksDone = 0;
  // The download (and the whole file's probe on it) waits for the first chunk stored: until then chunk
  // 1 and the audio read the URL, and a download beside them on this node took their CPU (a 912-MB
  // source on one core: chunk 1 in 13.9 s instead of 7.1 s). Chunk 1 is bounded without the probe (the
  // frame-count limits are the probe's; encode-chunk.ts clamps timestamp gaps, the deadline the rest).
  let firstChunkStored = () => {};
  const verified = new Promise<void>((resolve) => {
    firstChunkStored = resolve;
  }).then(() => job.probed.verify());
  verified.catch(() => undefined); // joined with the encode below
  const runner = deps.chunkRunner ?? localChunkRunner(deps, encoder);
  try {
    await Promise.all([
      runner.run(
        {
          videoId: a.data.videoId,
          ownerId: a.data.ownerId,
          // A retried video's chunk jobs are its run's own (chunkJobId), never the failed run's.
          ...(a.data.run !== undefined && a.data.run > 1 ? { run: a.data.run } : {}),
          totalFrames: chunkPlan.totalFrames,
          fps: plan.fps,
          chunkSeconds,
          rungs: plan.rungs,
          facts: { rotation: facts.rotation, videoCodec: facts.videoCodec, pixelFormat: facts.pixelFormat },
          // Every chunk with this node's encoder, wherever it runs: a rung's chunks share one init.
          encoder,
          chunkCount,
          firstChunkStreams: job.probed.streamed,
          source: { url: () => immediateInput(a, job), path: async () => (await job.source.file()).path },
        },
        async (done) => {
          await publication.chunkDone(done);
          firstChunkStored();
          chunksDone += 1;
          progress.chunks(chunksDone, chunkCount);
        },
        cancel,
        a.signal,
      ),
      audio,
      // The whole file's probe: a limit only every packet shows stops the chunks and fails the video.
      verified,
    ]);
  } catch (err) {
    local.abort(err);
    await audio.catch(() => undefined);
    throw err;
  }
  const seconds = (Date.now() - started) / 1000;
  const realtimeFactor = facts.durationSeconds / seconds;
  progress.transcoded();
  deps.onEncoded?.({ encoder: encoder.kind, realtimeFactor, seconds });
  return {
    encoded: { encoder: encoder.kind, encodeSeconds: seconds, realtimeFactor, chunks: chunkCount },
    publication,
  };
}

/**
 * The audio, encoded once for the whole video (read over the URL when it works, so its first segment
 * does not wait for the download), stored and published as ffmpeg goes. ffmpeg cuts 1-s pieces
 * (AUDIO_PIECE_SECONDS); they are joined into segments that end where the video's segments end
 * (`ends`, from the chunk plan: 1, 2, 4, 6, 12, 18 s…), so audio segment k covers video segment k and the
 * publication lists exactly as much audio as video (a growing audio playlist ahead of the video's
 * lets players run the clock past the video and seek back into holes). Audio past the video's end goes
 * in SEGMENT_SECONDS segments. A fragment-per-piece segment is valid fMP4: moof+mdat pairs in a row.
 */
async function encodeAndStoreAudio(
  a: Attempt,
  job: EncodeInput,
  publication: Publication,
  ends: readonly number[],
): Promise<void> {
  const { deps } = a;
  const { facts } = job.probed;
  const prefix = outputPrefix(a.data.videoId);
  const folder = join(job.outDir, AUDIO_FOLDER);
  const boundary = (n: number) => ends[n - 1] ?? (ends.at(-1) ?? 0) + SEGMENT_SECONDS * (n - ends.length);
  // Uploads in order, one at a time, beside the encode (onSegment must not wait for them).
  let stored: Promise<void> = Promise.resolve();
  let initStored = false;
  let number = 0;
  const store = (group: AudioSegment[]) => {
    number += 1;
    const segment = number;
    stored = stored.then(async () => {
      if (!initStored) {
        await deps.storage.putFile(
          `${prefix}${AUDIO_FOLDER}/${INIT_SEGMENT}`,
          join(folder, INIT_SEGMENT),
          contentTypeFor(INIT_SEGMENT),
          a.signal,
        );
        initStored = true;
      }
      const file =
        group.length === 1 ? (group[0] as AudioSegment).path : join(folder, `joined_${segment}.m4s`);
      if (group.length > 1)
        await writeFile(file, Buffer.concat(await Promise.all(group.map((p) => readFile(p.path)))));
      const key = audioSegmentKey(a.data.videoId, segment);
      await deps.storage.putFile(key, file, contentTypeFor(key), a.signal);
      const { size } = await stat(file);
      const durationSeconds = group.reduce((sum, p) => sum + p.durationSeconds, 0);
      await publication.audioSegment({ number: segment, durationSeconds, bytes: size });
    });
    // A failed upload fails the encode below (awaited after it), not as an unhandled rejection.
    stored.catch(() => undefined);
  };
  // The newest whole segment waits for the next: the encode can end with a sliver (one AAC frame past
  // the video's end), which players skip, so they never see the audio end (hls.js stalls short of the
  // end, waiting). Such a sliver joins the segment before it.
  let held: AudioSegment[] | null = null;
  let pieces: AudioSegment[] = [];
  let elapsed = 0;
  const report = (piece: AudioSegment) => {
    pieces.push(piece);
    elapsed += piece.durationSeconds;
    if (elapsed < boundary(number + (held ? 2 : 1)) - ALIGN_TOLERANCE_SECONDS) return;
    if (held) store(held);
    held = pieces;
    pieces = [];
  };
  await encodeAudio(
    { input: await immediateInput(a, job), outDir: job.outDir, maxPixels: job.maxPixels },
    {
      ffmpegPath: deps.ffmpegPath,
      signal: a.signal,
      stallTimeoutMs: deps.encodeStallTimeoutMs,
      timeoutMs: ffmpegDeadline(deps, facts),
      memoryLimitBytes: deps.ffmpegMemoryLimitBytes,
      // Beside chunk 1, which decides when the video is playable: its first segment needs little CPU.
      niceness: BACKGROUND_NICENESS,
      durationSeconds: facts.durationSeconds,
      onSegment: report,
    },
  );
  const rest = pieces.reduce((sum, p) => sum + p.durationSeconds, 0);
  if (held && pieces.length > 0 && rest < MIN_LAST_AUDIO_SECONDS) {
    store([...held, ...pieces]);
  } else {
    if (held) store(held);
    if (pieces.length > 0) store(pieces);
  }
  await stored;
}

/** An audio segment ends at the first piece that ends this close to (or past) the video's boundary. */
const ALIGN_TOLERANCE_SECONDS = 0.1;

/** A last audio segment shorter than this is appended to the one before it (see encodeAndStoreAudio). */
const MIN_LAST_AUDIO_SECONDS = 1;

/** Step 5: the poster, from the source. */
async function storePoster(a: Attempt, source: string, outDir: string, facts: MediaFacts, maxPixels: number) {
  const { deps } = a;
  a.stage("poster");
  const file = join(outDir, POSTER);
  await makePoster(source, file, facts, {
    ffmpegPath: deps.ffmpegPath,
    signal: a.signal,
    timeoutMs: ffmpegDeadline(deps, facts),
    maxPixels,
    memoryLimitBytes: deps.ffmpegMemoryLimitBytes,
  });
  const key = `${outputPrefix(a.data.videoId)}${POSTER}`;
  await deps.storage.putFile(key, file, contentTypeFor(POSTER), a.signal);
}

/**
 * Step 6: every segment stored; read back, checked, and what is made from them written (deliver.ts:
 * I-frame playlists, DASH, storyboard, download MP4, quality) before the measured master.
 */
async function deliver(
  a: Attempt,
  publication: Publication,
  facts: MediaFacts,
  sourcePath: string,
  tempDir: string,
): Promise<Delivered> {
  const { deps } = a;
  const ladder = await publication.describe();
  const top = ladder.rungs[0];
  const durationSeconds = top
    ? top.segments.reduce((sum, s) => sum + s.durationSeconds, 0)
    : facts.durationSeconds;
  const workDir = join(tempDir, "deliver");
  await mkdir(workDir);
  return prepareDelivery({
    videoId: a.data.videoId,
    storage: deps.storage,
    ladder,
    workDir,
    sourcePath,
    durationSeconds,
    tools: {
      ffmpegPath: deps.ffmpegPath,
      ffprobePath: deps.ffprobePath,
      signal: a.signal,
      timeoutMs: ffmpegDeadline(deps, facts),
      memoryLimitBytes: deps.ffmpegMemoryLimitBytes,
    },
    log: a.log,
    // Each step a stage of its own: a stop (deleted video, shutdown) is noticed between them.
    onStep: (step) => a.stage(`deliver:${step}`),
  });
}

/** Step 7: `ready`, resolved once the DO has it in Postgres; a timeout fails the attempt (retried). */
async function reportReady(
  a: Attempt,
  facts: MediaFacts,
  published: { renditions: Rendition[]; durationSeconds: number },
  sourceBytes: number,
  assets: DeliveryAssets,
): Promise<TranscodeResult> {
  await a.progress.ready({
    durationSeconds: published.durationSeconds,
    sourceWidth: facts.width,
    sourceHeight: facts.height,
    renditions: published.renditions,
    sourceBytes,
    assets,
  });
  return published;
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
 * What a failed attempt throws: a cancelled job removes its output and ends cancelled; a stopped one
 * (shutdown, lost lock) rethrows the stop reason untouched with no "failed" event; anything else is
 * classified, and subscribers hear "failed" when no retry will follow.
 */
async function failAttempt(
  a: Attempt,
  job: TranscodeJobLike,
  err: unknown,
  shutdown?: AbortSignal,
): Promise<never> {
  const { log, publisher } = a;
  if (publisher.cancelled.aborted) {
    const cancelled = publisher.cancelled.reason as JobCancelledError;
    log.warn("job cancelled", { reason: cancelled.message, during: errorMessage(err) });
    await removeOutput(a.deps.storage, outputPrefix(a.data.videoId), log);
    await a.deps.sources?.discard(a.data.videoId).catch(() => undefined);
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
    // Nothing of a video that failed for good stays in storage (published chunks included), nor on
    // this node.
    await removeOutput(a.deps.storage, outputPrefix(a.data.videoId), log);
    await a.deps.sources?.discard(a.data.videoId).catch(() => undefined);
    await a.progress
      .failed(failureReason(final))
      .catch((publishErr) => log.error("could not publish the failure", errorFields(publishErr)));
  }
  throw final;
}

/**
 * One transcode job, start to end: download, probe and plan, encode, verify, poster, upload (master
 * last), report ready, publishing progress to the video's DO throughout. The temp folder and the
 * progress socket go in every case.
 *
 * Stopping: when `shutdown` aborts (hand-back, lost lock) ffmpeg is killed, uploads stop and its reason
 * is rethrown untouched, with no "failed" event: the video is not at fault and the job runs again. When
 * the edge says the video was deleted, the job stops the same way, removes everything it uploaded and
 * ends with a JobCancelledError (no retry).
 */
export async function processJob(
  job: TranscodeJobLike,
  deps: ProcessDeps,
  shutdown?: AbortSignal,
): Promise<TranscodeResult> {
  const a = startAttempt(job, deps, shutdown);
  let tempDir: string | undefined;
  let source: AttemptSource | undefined;
  try {
    a.stage("start");
    a.progress.downloading(0, null); // the first event after "queued" marks the video processing
    tempDir = await mkdtemp(join(deps.workDir, `streamlet-${a.data.videoId}-`));
    const outDir = join(tempDir, "out");
    await mkdir(outDir);

    await importIfAsked(a);
    source = startSource(a, join(tempDir, "source"));
    const probed = await probeAndPlan(a, source);
    const { facts } = probed;
    const maxPixels = maxPixelsOf(deps.sourceLimits ?? DEFAULT_SOURCE_LIMITS);
    const { encoded, publication } = await encodeAndPublish(a, { source, probed, outDir, maxPixels });
    await storePoster(a, (await source.file()).path, outDir, facts, maxPixels);
    const delivered = await deliver(a, publication, facts, (await source.file()).path, tempDir);
    a.stage("publish", { ...encoded });
    // Every playlist turns VOD and the measured master goes last: once it is out, all it names is final.
    const published = await publication.finish(delivered.master);
    const renditions = published.renditions.map((r) => {
      const quality = delivered.quality.get(r.name);
      return quality ? { ...r, quality } : r;
    });
    const result = await reportReady(
      a,
      facts,
      { ...published, renditions },
      (await source.file()).bytes,
      delivered.assets,
    );
    a.log.info("stage", { stage: "done", durationSeconds: result.durationSeconds, ...encoded });
    return result;
  } catch (err) {
    return await failAttempt(a, job, err, shutdown);
  } finally {
    a.publisher.close();
    if (source) {
      source.release();
      await source.settled(); // a stopped download has let go of its file
    }
    if (tempDir) await rm(tempDir, { recursive: true, force: true });
  }
}
