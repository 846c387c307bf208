import { mkdir } from "node:fs/promises";
import { basename, join } from "node:path";
import {
  AUDIO_FOLDER,
  contentTypeFor,
  DASH_MANIFEST,
  type DeliveryAssets,
  DOWNLOAD_PATH,
  IFRAME_PLAYLIST,
  INIT_SEGMENT,
  outputPrefix,
  type Rendition,
  STORYBOARD_FOLDER,
  segmentName,
} from "@streamlet/shared";
import type { Logger } from "./log.ts";
import {
  AUDIO_CHANNELS,
  AUDIO_SAMPLE_RATE,
  type DeliveryToolOptions,
  iframePlaylist,
  type LocalLadder,
  type LocalRung,
  type LocalTrack,
  makeStoryboard,
  measureQuality,
  readDashTrack,
  remuxDownload,
  verifyPublishedLadder,
  writeDashManifest,
} from "./media/index.ts";
import type { MasterExtras, PublishedLadder, PublishedTrack } from "./publication.ts";
import type { Storage } from "./storage.ts";

/** The tallest rung a download is remuxed from (the short side, so portrait videos count the same). */
export const DOWNLOAD_MAX_SHORT_SIDE = 1080;

/** How many objects are read back from storage at once. */
const READ_BACK_CONCURRENCY = 6;

export interface DeliveryInput {
  videoId: string;
  storage: Storage;
  ladder: PublishedLadder;
  /** A folder of the job's temp dir, emptied with it. */
  workDir: string;
  /** The source as uploaded: what each rung's quality is measured against. */
  sourcePath: string;
  durationSeconds: number;
  tools: DeliveryToolOptions;
  log: Logger;
  /** Told as each step starts (logs and stage events). */
  onStep?: (step: DeliveryStep) => void;
}

export type DeliveryStep =
  | "read-back"
  | "verify"
  | "iframes"
  | "dash"
  | "storyboard"
  | "download"
  | "quality";

export interface Delivered {
  /** The master playlist's I-frame streams. */
  master: MasterExtras;
  assets: DeliveryAssets;
  /** Each rung's SSIM/PSNR against the source, by rung name. */
  quality: Map<string, NonNullable<Rendition["quality"]>>;
}

/**
 * Between the last stored segment and `ready`: reads every published track back from storage (what
 * viewers will get, whichever node encoded it), checks it (verify.ts: a failure ends the video failed
 * with the reason, before its master playlist is final), then writes what is made from it: each rung's
 * I-frame playlist, the DASH manifest over the same segments, the storyboard, the MP4 for downloads,
 * and measures each rung's quality. Everything here is written before the measured master, which goes
 * last (publication.ts finish).
 */
export async function prepareDelivery(input: DeliveryInput): Promise<Delivered> {
  const { storage, tools, log } = input;
  const prefix = outputPrefix(input.videoId);
  // How long each step took (logged with the result: where a slow video spends its time).
  const timings: Partial<Record<DeliveryStep, number>> = {};
  let current: { name: DeliveryStep; at: number } | null = null;
  const endStep = () => {
    if (current) timings[current.name] = Date.now() - current.at;
  };
  const step = (name: DeliveryStep) => {
    endStep();
    current = { name, at: Date.now() };
    input.onStep?.(name);
  };
  const put = (key: string, body: string) =>
    storage.putBody(`${prefix}${key}`, body, contentTypeFor(key), tools.signal);

  step("read-back");
  const local = await readBack(input);

  // What is made locally from the tracks runs beside the checks: the quality measurement (decoding the
  // source at a few points), the storyboard and the download's remux read only the local copies, and
  // the checks are mostly single-threaded ffmpeg runs with process start-ups between them. Their files
  // are stored only once the checks have passed; a failed check stops them (their files go with workDir).
  const stopSide = new AbortController();
  const sideTools = { ...tools, signal: anySignal(tools.signal, stopSide.signal) };
  // How long each piece of work beside the checks took (the steps' own times above are then the wait
  // for it and the upload).
  const besideMs: Partial<Record<DeliveryStep, number>> = {};
  const beside = <T>(name: DeliveryStep, work: () => Promise<T>): Promise<T> => {
    const since = Date.now();
    const running = work();
    running.then(
      () => {
        besideMs[name] = Date.now() - since;
      },
      () => undefined, // awaited below, or abandoned when a check fails
    );
    return running;
  };
  const measuring = beside("quality", () =>
    measureQuality(
      {
        source: input.sourcePath,
        rungs: local.rungs,
        durationSeconds: input.durationSeconds,
        samples: qualitySamples(input.durationSeconds),
      },
      sideTools,
    ),
  );
  const lowest = local.rungs.at(-1) as LocalRung;
  const boardDir = join(input.workDir, "storyboard");
  const boarding = beside("storyboard", async () => {
    await mkdir(boardDir, { recursive: true });
    return makeStoryboard(
      { track: lowest, durationSeconds: input.durationSeconds, outDir: boardDir },
      sideTools,
    );
  });
  const source = downloadRung(local.rungs);
  const downloadFile = join(input.workDir, "download.mp4");
  const remuxing = beside("download", () =>
    remuxDownload({ video: source, audio: local.audio, outFile: downloadFile }, sideTools),
  );
  try {
    return await deliverChecked();
  } finally {
    stopSide.abort(new Error("delivery ended"));
  }

  async function deliverChecked(): Promise<Delivered> {
    step("verify");
    const checked = await verifyPublishedLadder(local, tools);

    step("iframes");
    const iframes: NonNullable<MasterExtras["iframes"]> = [];
    for (const rung of local.rungs) {
      const playlist = await iframePlaylist(rung);
      await put(`${rung.name}/${IFRAME_PLAYLIST}`, playlist.text);
      iframes.push({
        name: rung.name,
        bandwidth: Math.round(playlist.peakBitrate),
        averageBandwidth: Math.round(playlist.averageBitrate),
      });
    }

    step("dash");
    await put(DASH_MANIFEST, await dashManifest(local));

    step("storyboard");
    const board = await boarding;
    for (const file of board.files) {
      await storage.putFile(
        `${prefix}${STORYBOARD_FOLDER}/${basename(file)}`,
        file,
        contentTypeFor(file),
        tools.signal,
      );
    }

    step("download");
    const remuxed = await remuxing;
    await storage.putFile(
      `${prefix}${DOWNLOAD_PATH}`,
      downloadFile,
      contentTypeFor(DOWNLOAD_PATH),
      tools.signal,
    );

    const quality = await measuring;
    endStep();
    log.info("delivery prepared", {
      ms: timings,
      besideMs,
      storyboard: board.meta,
      download: { rendition: source.name, bytes: remuxed.bytes },
      quality: Object.fromEntries(quality),
      checked: {
        audioOffsetSeconds: checked.audioOffsetSeconds,
        tracks: checked.rungs.length + (checked.audio ? 1 : 0),
      },
    });
    return {
      master: { iframes },
      assets: {
        storyboard: board.meta,
        dash: true,
        download: { rendition: source.name, bytes: remuxed.bytes },
      },
      quality,
    };
  }
}

/**
 * Sample points for the quality measurement: two for short videos, one more per half minute, eight at
 * most (each point decodes about a second of the source and a few frames of every rung).
 */
export function qualitySamples(durationSeconds: number): number {
  return Math.min(8, Math.max(2, Math.ceil(durationSeconds / 30)));
}

const anySignal = (...signals: (AbortSignal | undefined)[]) =>
  AbortSignal.any(signals.filter((s): s is AbortSignal => s !== undefined));

/** The download's rung: the tallest whose short side is at most DOWNLOAD_MAX_SHORT_SIDE (else the lowest). */
export function downloadRung<T extends { width: number; height: number }>(rungs: readonly T[]): T {
  const fitting = rungs.filter((r) => Math.min(r.width, r.height) <= DOWNLOAD_MAX_SHORT_SIDE);
  const pool = fitting.length > 0 ? fitting : [...rungs];
  return pool.reduce((best, r) => (r.width * r.height > best.width * best.height ? r : best));
}

/** Every track's init and segments from storage into workDir/<track>/, a few objects at a time. */
async function readBack(input: DeliveryInput): Promise<LocalLadder> {
  const { storage, tools, ladder } = input;
  const prefix = outputPrefix(input.videoId);
  const jobs: (() => Promise<unknown>)[] = [];
  const localTrack = async (track: PublishedTrack): Promise<LocalTrack> => {
    const dir = join(input.workDir, "published", track.name);
    await mkdir(dir, { recursive: true });
    const initPath = join(dir, INIT_SEGMENT);
    jobs.push(() => storage.download(`${prefix}${track.name}/${INIT_SEGMENT}`, initPath, tools.signal));
    const segmentPaths = track.segments.map((s) => {
      const path = join(dir, segmentName(s.number));
      jobs.push(async () => {
        const bytes = await storage.download(
          `${prefix}${track.name}/${segmentName(s.number)}`,
          path,
          tools.signal,
        );
        if (bytes !== s.bytes) {
          throw new Error(
            `${track.name} segment ${s.number} reads back as ${bytes} bytes, ${s.bytes} were stored`,
          );
        }
      });
      return path;
    });
    return {
      name: track.name,
      initPath,
      segmentPaths,
      durations: track.segments.map((s) => s.durationSeconds),
    };
  };
  const rungs: LocalRung[] = [];
  for (const rung of ladder.rungs) {
    rungs.push({
      ...(await localTrack(rung)),
      width: rung.width,
      height: rung.height,
      codecs: rung.codecs,
      frameRate: rung.frameRate,
    });
  }
  const audio = ladder.audio ? await localTrack({ ...ladder.audio, name: AUDIO_FOLDER }) : null;
  await runLimited(jobs, READ_BACK_CONCURRENCY);
  return { rungs, audio, targetSeconds: ladder.targetSeconds };
}

/** Runs the thunks `limit` at a time; the first failure rejects (the rest still settle). */
async function runLimited(jobs: readonly (() => Promise<unknown>)[], limit: number): Promise<void> {
  let next = 0;
  let failed: unknown = null;
  const lane = async () => {
    while (next < jobs.length && failed === null) {
      const job = jobs[next++] as () => Promise<unknown>;
      await job().catch((err: unknown) => {
        failed ??= err;
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, lane));
  if (failed !== null) throw failed;
}

/** The DASH manifest over the published segments, timed from their own fragments (exact ticks). */
async function dashManifest(local: LocalLadder): Promise<string> {
  const rungs = [];
  for (const rung of local.rungs) {
    rungs.push({
      name: rung.name,
      width: rung.width,
      height: rung.height,
      codecs: rung.codecs,
      frameRate: rung.frameRate,
      track: await readDashTrack(rung),
    });
  }
  const audio = local.audio
    ? {
        track: await readDashTrack(local.audio),
        samplingRate: AUDIO_SAMPLE_RATE,
        channels: AUDIO_CHANNELS,
      }
    : null;
  return writeDashManifest({ rungs, audio });
}
