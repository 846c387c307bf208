import { AUDIO_FOLDER, SEGMENT_PATTERN, SEGMENT_SECONDS, VARIANT_PLAYLIST } from "@streamlet/shared";
import { sourceInputArgs } from "./confine.ts";
import { createEncoder, type EncoderSpec, type SourceFacts } from "./encoder.ts";
import type { PlannedRung } from "./ladder.ts";
import type { MediaFacts } from "./probe.ts";
import type { Rational } from "./rational.ts";

/** Audio group id shared by the video variants and the audio rendition. */
export const AUDIO_GROUP = "aud";
/**
 * What FFmpeg 5.1 names the init segment: with several variants it appends "_<index>" to a fixed
 * name, so we ask for "init_<name>.mp4" (%v) and rename it to init.mp4 afterwards (see hls-layout.ts).
 */
export const FFMPEG_INIT_PATTERN = "init_%v.mp4";

export const AUDIO_ARGS = [
  "-c:a",
  "aac",
  "-profile:a",
  "aac_low",
  "-b:a",
  "128k",
  "-ac",
  "2",
  "-ar",
  "48000",
];

export interface LadderArgsInput {
  /** Source file path. */
  input: string;
  /** Folder that receives one sub-folder per variant. */
  outDir: string;
  /** hasAudio shapes the outputs; rotation, codec and pixel format pick the GPU encoder's decode path. */
  facts: Pick<MediaFacts, "hasAudio"> & SourceFacts;
  /** Tallest first; the order of output video streams v:0..v:N-1. */
  rungs: PlannedRung[];
  /** Constant output frame rate. */
  fps: Rational;
  encoder: EncoderSpec;
  /** Largest decoded frame allowed (-max_pixels), from the source limits; ffmpeg's own default when absent. */
  maxPixels?: number;
}

/** The filter graph: one decode, a constant frame rate, then split into one scaled branch per rung. */
export function buildFilterGraph(
  rungs: PlannedRung[],
  fps: Rational,
  encoder: EncoderSpec,
  source?: SourceFacts,
): string {
  const enc = createEncoder(encoder);
  const head = `[0:v:0]${enc.headFilter(fps, source)}`;
  if (rungs.length === 1) {
    const only = rungs[0] as PlannedRung;
    return `${head},${enc.scaleFilter(only.width, only.height)}[v0]`;
  }
  const pads = rungs.map((_, i) => `[s${i}]`).join("");
  const branches = rungs.map((r, i) => `[s${i}]${enc.scaleFilter(r.width, r.height)}[v${i}]`);
  return [`${head},split=${rungs.length}${pads}`, ...branches].join(";");
}

/** -var_stream_map value: each rung (and the audio, once) as a named variant. */
export function buildVarStreamMap(rungs: PlannedRung[], hasAudio: boolean): string {
  const group = hasAudio ? `,agroup:${AUDIO_GROUP}` : "";
  const video = rungs.map((r, i) => `v:${i}${group},name:${r.name}`);
  return [...video, ...(hasAudio ? [`a:0${group},name:${AUDIO_FOLDER}`] : [])].join(" ");
}

/**
 * The whole ladder in ONE ffmpeg process: decode once, encode every rung, encode audio once, and
 * write fMP4 HLS with aligned keyframes. Returns argv without the ffmpeg binary.
 */
export function buildLadderArgs({
  input,
  outDir,
  facts,
  rungs,
  fps,
  encoder,
  maxPixels,
}: LadderArgsInput): string[] {
  if (rungs.length === 0) throw new Error("buildLadderArgs needs at least one rung");
  if (outDir.includes("%")) throw new Error(`output folder must not contain "%": ${outDir}`);
  const enc = createEncoder(encoder);
  const dir = outDir.replace(/\/+$/, "");
  const video = rungs.flatMap((rung, i) => ["-map", `[v${i}]`, ...enc.videoArgs(rung, i, fps)]);
  const audio = facts.hasAudio ? ["-map", "0:a:0", ...AUDIO_ARGS] : [];
  return [
    "-hide_banner",
    "-nostdin",
    ...sourceInputArgs(maxPixels),
    "-y",
    ...enc.inputArgs(facts),
    "-i",
    input,
    "-filter_complex",
    buildFilterGraph(rungs, fps, encoder, facts),
    ...video,
    ...audio,
    // Strip source metadata (phone GPS tags, encoder names) and chapters from what we publish.
    "-map_metadata",
    "-1",
    "-map_chapters",
    "-1",
    "-max_muxing_queue_size",
    "4096",
    "-f",
    "hls",
    "-hls_time",
    String(SEGMENT_SECONDS),
    "-hls_playlist_type",
    "vod",
    "-hls_flags",
    "independent_segments",
    "-hls_segment_type",
    "fmp4",
    "-hls_fmp4_init_filename",
    FFMPEG_INIT_PATTERN,
    "-start_number",
    "1",
    "-hls_segment_filename",
    `${dir}/%v/${SEGMENT_PATTERN}`,
    "-var_stream_map",
    buildVarStreamMap(rungs, facts.hasAudio),
    `${dir}/%v/${VARIANT_PLAYLIST}`,
  ];
}
