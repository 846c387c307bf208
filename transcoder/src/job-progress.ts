import { type DeliveryAssets, type Rendition, SEGMENT_SECONDS } from "@streamlet/shared";
import type { Logger } from "./log.ts";
import { type FfmpegStats, progressPercent } from "./media/index.ts";
import { type ProgressPublisher, safePublish } from "./progress-publisher.ts";

/** One decimal: plenty for a progress bar, and short on the wire. */
const round1 = (n: number) => Math.round(n * 10) / 10;
const clampPercent = (n: number) => round1(Math.min(100, Math.max(0, Number.isFinite(n) ? n : 0)));

export interface ReadyFacts {
  durationSeconds: number;
  sourceWidth: number;
  sourceHeight: number;
  renditions: Rendition[];
  /** The source's size (the edge records it for videos imported from a URL). */
  sourceBytes?: number;
  /** The storyboard, DASH manifest and download published beside the ladder. */
  assets?: DeliveryAssets;
}

/** The processor's view of progress: raw signals in, monotonic progress events out. */
export interface JobProgress {
  downloading(bytes: number, totalBytes: number | null): void;
  probing(): void;
  /** The ladder is planned: from now on, transcoding events carry these rungs. */
  transcodingStarted(
    rungs: { name: string; height: number }[],
    durationSeconds: number,
    frameRate: number,
    /** The video is encoded in this many chunks (chunked encoding): counted from 0 from the first event. */
    chunksTotal?: number,
  ): void;
  ffmpegStats(stats: FfmpegStats): void;
  /** A rung's folder now holds `segments` finished segments. */
  rungSegments(name: string, segments: number): void;
  /** `done` of `total` chunks are stored (chunked encoding): carried by every transcoding event from now on. */
  chunks(done: number, total: number): void;
  /** The master playlist is out: the video plays from the start while the rest is encoded. */
  playable(segmentsPublished: number, segmentsTotal: number): void;
  /** FFmpeg finished: every rung is at 100. */
  transcoded(): void;
  uploading(files: number, totalFiles: number): void;
  ready(facts: ReadyFacts): Promise<void>;
  failed(reason: string): Promise<void>;
}

/**
 * Builds progress events for one job attempt. Every percent only goes up within its stage, whatever
 * the inputs do (a retried download restarts at 0 bytes; ffmpeg overshoots the probed duration).
 */
export function createJobProgress(publisher: ProgressPublisher, log: Logger): JobProgress {
  const download = { bytes: 0, totalBytes: null as number | null, percent: 0 };
  let duration = 0;
  let frameRate = 0;
  let rungs: { name: string; height: number; percent: number }[] = [];
  const encode = {
    percent: 0,
    fps: null as number | null,
    speed: null as number | null,
    etaSeconds: null as number | null,
  };
  const upload = { files: 0, percent: 0 };
  let chunkCounts: { chunksDone: number; chunksTotal: number } | null = null;

  const publishTranscoding = () =>
    safePublish(
      publisher,
      {
        type: "transcoding",
        percent: encode.percent,
        rungs: rungs.map((r) => ({ ...r })),
        fps: encode.fps,
        speed: encode.speed,
        etaSeconds: encode.etaSeconds,
        ...chunkCounts,
      },
      log,
    );

  return {
    downloading(bytes, totalBytes) {
      if (totalBytes !== null) download.totalBytes = totalBytes;
      const before = download.percent;
      download.bytes = Math.max(download.bytes, bytes);
      const total = download.totalBytes;
      if (total !== null && total > 0) {
        download.percent = Math.max(download.percent, clampPercent((download.bytes / total) * 100));
        // One call per 64 KiB chunk: only a change of 0.1% (or a (re)start, or the end) is worth an event.
        if (download.percent === before && bytes > 0 && download.bytes < total) return;
      }
      safePublish(publisher, { type: "downloading", ...download }, log);
    },

    probing() {
      safePublish(publisher, { type: "probing" }, log);
    },

    transcodingStarted(planned, durationSeconds, outputFrameRate, chunksTotal) {
      if (chunksTotal !== undefined) chunkCounts = { chunksDone: 0, chunksTotal };
      duration = durationSeconds;
      frameRate = outputFrameRate;
      rungs = planned.map((r) => ({ name: r.name, height: r.height, percent: 0 }));
      publishTranscoding();
    },

    ffmpegStats(stats) {
      encode.percent = Math.max(encode.percent, clampPercent(progressPercent(stats.seconds, duration)));
      // FFmpeg prints fps=0.0 for its first second; speed x the output frame rate is the same figure.
      const fps = stats.fps ? stats.fps : stats.speed && frameRate > 0 ? stats.speed * frameRate : null;
      encode.fps = fps === null ? encode.fps : round1(fps);
      encode.speed = stats.speed === null ? encode.speed : Math.round(stats.speed * 100) / 100;
      encode.etaSeconds =
        stats.speed !== null && stats.speed > 0
          ? round1(Math.max(0, duration - stats.seconds) / stats.speed)
          : encode.etaSeconds;
      publishTranscoding();
    },

    rungSegments(name, segments) {
      const rung = rungs.find((r) => r.name === name);
      if (!rung || !(duration > 0)) return;
      const percent = clampPercent(((segments * SEGMENT_SECONDS) / duration) * 100);
      if (percent <= rung.percent) return;
      rung.percent = percent;
      publishTranscoding();
    },

    chunks(done, total) {
      if (chunkCounts && done <= chunkCounts.chunksDone && total === chunkCounts.chunksTotal) return;
      chunkCounts = { chunksDone: Math.min(done, total), chunksTotal: total };
      encode.percent = Math.max(encode.percent, clampPercent((done / total) * 100));
      publishTranscoding();
    },

    playable(segmentsPublished, segmentsTotal) {
      // A stage of its own, so the publisher sends it at once and it is never coalesced away.
      safePublish(publisher, { type: "playable", segmentsPublished, segmentsTotal }, log);
    },

    transcoded() {
      encode.percent = 100;
      encode.etaSeconds = 0;
      for (const r of rungs) r.percent = 100;
      publishTranscoding();
    },

    uploading(files, totalFiles) {
      upload.files = Math.max(upload.files, Math.min(files, totalFiles));
      const percent = totalFiles > 0 ? clampPercent((upload.files / totalFiles) * 100) : 0;
      upload.percent = Math.max(upload.percent, percent);
      safePublish(publisher, { type: "uploading", ...upload, totalFiles }, log);
    },

    ready(facts) {
      return publisher.finish({ type: "ready", ...facts });
    },

    failed(reason) {
      return publisher.finish({ type: "failed", reason });
    },
  };
}
