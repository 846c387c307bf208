import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { SEEK_MARGIN_SECONDS } from "../chunks/encode-chunk.ts";
import { sourceInputArgs } from "../confine.ts";
import { runFfmpeg } from "../run-ffmpeg.ts";
import { scratchDir, trackInputArgs, writeTrackList } from "./download.ts";
import type { DeliveryToolOptions, LocalRung } from "./types.ts";

/**
 * How close each published rung is to the upload: SSIM and PSNR (the metrics Debian's ffmpeg has; no
 * VMAF) on a few short runs of frames spread over the video, so the cost is the same for a 1-min and
 * a 6-h video: per sample point one ffmpeg run seeks the source and every rung to the same instant,
 * scales the source to each rung's size and compares.
 *
 * Alignment. A rung's time t is the source's time t counted from the source's start time: the chunk
 * encoder reads the source with `-ss <t - 1 s> -copyts -start_at_zero` and starts its fps filter at t.
 * Each run here reads the source and every rung exactly so (SEEK_MARGIN_SECONDS early, -copyts
 * -start_at_zero, `fps=<rate>:start_time=<t>`), so a source starting at 1.4 s (MPEG-TS), a seek that
 * lands anywhere in the margin (MPEG-TS seeks are inexact), and a rung that FFmpeg reads two frames
 * late (its dts_shift, see download.ts; -start_at_zero takes it back out) all pair each rung frame with
 * the source frame it was made from. Rotation: FFmpeg's autorotate turned the source upright for the
 * encode (nothing disables it) and does so here too. A pairing one frame off scores clearly lower
 * (delivery-quality.test.ts).
 */

export interface QualityScore {
  /** Mean SSIM ("All": luma and chroma) over the compared frames, 0-1. */
  ssim: number;
  /** PSNR (dB) of the mean squared error over the compared frames, capped at PSNR_CAP. */
  psnr: number;
  /** Frames compared. */
  frames: number;
}

/** Sample points spread over the video. */
export const QUALITY_SAMPLES = 8;
/** Consecutive frames compared at each point. */
export const QUALITY_FRAMES_PER_SAMPLE = 5;
/** PSNR of identical pictures is infinite; reported as this instead. */
export const PSNR_CAP = 100;
/**
 * How the source is scaled to a rung's size for the comparison: bicubic, the scaler the x264 ladder
 * itself uses (ffmpeg's default), so the score measures what compression lost, not a scaler difference.
 */
export const REFERENCE_SCALER = "bicubic";

/** A frame rate as ffmpeg's exact rational: the master playlist's 29.970 is 30000/1001. */
export function rateOf(fps: number): string {
  if (!(fps > 0)) throw new Error(`bad frame rate ${fps}`);
  const ntsc = Math.round((fps * 1001) / 1000);
  if (Math.abs((ntsc * 1000) / 1001 - fps) < 0.002 && Math.abs(ntsc - fps) > 0.002)
    return `${ntsc * 1000}/1001`;
  if (Math.abs(Math.round(fps) - fps) < 0.002) return String(Math.round(fps));
  return String(fps);
}

/**
 * Where to sample (s): the middle of each of `samples` equal parts of the video, on the rung's frame
 * grid, and early enough that the run of frames ends before the video does.
 */
export function samplePoints(
  durationSeconds: number,
  samples: number,
  fps: number,
  frames: number,
): number[] {
  const total = Math.floor(durationSeconds * fps + 1e-6);
  const last = Math.max(0, total - frames);
  const points = Array.from({ length: samples }, (_, i) =>
    Math.min(last, Math.floor(((i + 0.5) * total) / samples)),
  );
  return [...new Set(points)].map((frame) => frame / fps);
}

/** Escapes a value for a filter option inside a filter graph (ffmpeg's two quoting levels). */
function graphValue(value: string): string {
  const option = value.replace(/[\\':]/g, "\\$&");
  return option.replace(/[\\'[\],;]/g, "\\$&");
}

/** ffmpeg argv (without the binary) comparing every rung with the source from `atSeconds`. */
export function buildQualityArgs(a: {
  source: string;
  rungs: { list: string; width: number; height: number; rate: string }[];
  atSeconds: number;
  frames: number;
  /** Per rung: where the ssim and psnr filters write their per-frame lines. */
  stats: { ssim: string; psnr: string }[];
  maxPixels?: number;
}): string[] {
  const at = a.atSeconds.toFixed(6);
  const seek = Math.max(0, a.atSeconds - SEEK_MARGIN_SECONDS).toFixed(6);
  const n = a.rungs.length;
  const sync = "eof_action=endall:shortest=1";
  const head = n > 1 ? `[0:v:0]split=${n}${a.rungs.map((_, i) => `[s${i}]`).join("")}` : "[0:v:0]null[s0]";
  const branches = a.rungs.map((r, i) => {
    const stats = a.stats[i] as { ssim: string; psnr: string };
    const trim = `trim=end_frame=${a.frames}`;
    return [
      `[s${i}]fps=${r.rate}:start_time=${at},scale=${r.width}:${r.height}:flags=${REFERENCE_SCALER},setsar=1,format=yuv420p,${trim},split[ref${i}a][ref${i}b]`,
      `[${i + 1}:v:0]fps=${r.rate}:start_time=${at},setsar=1,format=yuv420p,${trim},split[rung${i}a][rung${i}b]`,
      `[rung${i}a][ref${i}a]ssim=stats_file=${graphValue(stats.ssim)}:${sync}[ssim${i}]`,
      `[rung${i}b][ref${i}b]psnr=stats_file=${graphValue(stats.psnr)}:${sync}[psnr${i}]`,
    ].join(";");
  });
  return [
    "-hide_banner",
    "-nostdin",
    "-y",
    ...sourceInputArgs(a.maxPixels, a.source),
    // As the chunk encoder reads the source: seek a margin early, keep the file's own times (from its
    // start time), and let the fps filter start at the instant itself.
    ...["-copyts", "-start_at_zero"],
    ...["-ss", seek, "-i", a.source],
    ...a.rungs.flatMap((r) => ["-ss", seek, ...trackInputArgs(r.list)]),
    "-filter_complex",
    [head, ...branches].join(";"),
    ...a.rungs.flatMap((_, i) => ["-map", `[ssim${i}]`, "-map", `[psnr${i}]`]),
    ...["-f", "null", "-"],
  ];
}

/** Per-frame "All" values from an ssim stats file. */
export function parseSsimStats(text: string): number[] {
  return [...text.matchAll(/\bAll:([\d.]+)/g)].map((m) => Number(m[1]));
}

/** Per-frame MSE (8-bit scale) from a psnr stats file, read from psnr_avg (more digits than mse_avg). */
export function parsePsnrStats(text: string): number[] {
  return [...text.matchAll(/\bpsnr_avg:(inf|[\d.]+)/g)].map((m) =>
    m[1] === "inf" ? 0 : 255 ** 2 * 10 ** (-Number(m[1]) / 10),
  );
}

/** PSNR of a mean squared error, as ffmpeg's psnr summary ("average:") computes it, capped. */
export function psnrOf(meanSquaredError: number): number {
  if (!(meanSquaredError > 0)) return PSNR_CAP;
  return Math.min(PSNR_CAP, 10 * Math.log10(255 ** 2 / meanSquaredError));
}

/**
 * SSIM and PSNR of each rung against the source (scaled to the rung's size), by rung name, from
 * `samples` short runs spread over the video: one sandboxed ffmpeg run per sample point for all rungs.
 */
export async function measureQuality(
  input: { source: string; rungs: LocalRung[]; durationSeconds: number; samples?: number },
  options: DeliveryToolOptions & {
    /** Largest decoded frame allowed (-max_pixels) for the source, as for the ladder. */
    maxPixels?: number;
    /** Frames compared at each point; QUALITY_FRAMES_PER_SAMPLE when absent. */
    framesPerSample?: number;
  },
): Promise<Map<string, QualityScore>> {
  if (input.rungs.length === 0) return new Map();
  const frames = options.framesPerSample ?? QUALITY_FRAMES_PER_SAMPLE;
  const fps = (input.rungs[0] as LocalRung).frameRate;
  const points = samplePoints(input.durationSeconds, input.samples ?? QUALITY_SAMPLES, fps, frames);
  const scratch = await scratchDir("quality", options.scratchDir);
  try {
    const rungs = await Promise.all(
      input.rungs.map(async (rung, i) => {
        const list = join(scratch, `rung${i}.txt`);
        await writeTrackList(rung, list);
        return { list, width: rung.width, height: rung.height, rate: rateOf(rung.frameRate) };
      }),
    );
    const ssim = input.rungs.map(() => [] as number[]);
    const mse = input.rungs.map(() => [] as number[]);
    for (const [p, atSeconds] of points.entries()) {
      const stats = input.rungs.map((_, i) => ({
        ssim: join(scratch, `ssim-${p}-${i}.txt`),
        psnr: join(scratch, `psnr-${p}-${i}.txt`),
      }));
      const args = buildQualityArgs({
        source: input.source,
        rungs,
        atSeconds,
        frames,
        stats,
        maxPixels: options.maxPixels,
      });
      await runFfmpeg(args, options);
      for (const [i, file] of stats.entries()) {
        ssim[i]?.push(...parseSsimStats(await readFile(file.ssim, "utf8")));
        mse[i]?.push(...parsePsnrStats(await readFile(file.psnr, "utf8")));
      }
    }
    const mean = (xs: number[]) => xs.reduce((sum, x) => sum + x, 0) / xs.length;
    const scores = new Map<string, QualityScore>();
    for (const [i, rung] of input.rungs.entries()) {
      const s = ssim[i] as number[];
      const m = mse[i] as number[];
      // A point where nothing was compared (a seek past the last keyframe) counts for nothing; none at all
      // means the rung could not be compared.
      if (s.length === 0 || m.length !== s.length) {
        throw new Error(`quality of ${rung.name}: ${s.length} SSIM and ${m.length} PSNR frames compared`);
      }
      scores.set(rung.name, { ssim: mean(s), psnr: psnrOf(mean(m)), frames: s.length });
    }
    return scores;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
