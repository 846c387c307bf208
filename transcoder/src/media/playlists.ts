import { INIT_SEGMENT, type Rendition, segmentName } from "@streamlet/shared";
import { AAC_LC, renderMasterPlaylist } from "./master-playlist.ts";

/**
 * Playlists published while a video is still being encoded in chunks (MEDIA.md "Watching while it is
 * still processing"): each variant playlist is an EVENT playlist listing the contiguous stored prefix of
 * its segments, and becomes VOD (with EXT-X-ENDLIST) once every segment is stored; the master playlist
 * is published early with each rung's VBV peak as BANDWIDTH and replaced by the measured one
 * (master-playlist.ts) at the end. Pure text writers: nothing here reads files or storage.
 */

/** One stored media segment: its number (seg_NNNNN.m4s, from 1) and its duration. */
export interface StoredSegment {
  number: number;
  durationSeconds: number;
}

export interface VariantPlaylistInput {
  /** The listed segments: numbered 1, 2, 3, … without a hole (see contiguousPrefix). */
  segments: readonly StoredSegment[];
  /** Every segment of the variant is listed: VOD with EXT-X-ENDLIST; otherwise a growing EVENT playlist. */
  complete: boolean;
  /** EXT-X-MAP URI; init.mp4 beside the playlist by default. */
  mapUri?: string;
  /**
   * The longest segment duration planned for the whole variant, in seconds. An EVENT playlist's
   * EXT-X-TARGETDURATION must not change between versions (RFC 8216 6.2.1), so pass the plan's maximum
   * and the first version already carries the final value.
   */
  plannedMaxSegmentSeconds?: number;
}

/** Version 7, as FFmpeg writes for fMP4 (EXT-X-MAP in a media playlist needs 6 at least). */
export const PLAYLIST_VERSION = 7;

/**
 * EXT-X-TARGETDURATION for some segment durations: the smallest integer that every EXTINF, rounded to
 * the nearest integer, stays within (RFC 8216 4.3.3.1, the rule Apple's validator applies), and never
 * less than the planned maximum rounded the same way. Rounding, not ceiling: a 6.016 s AAC segment
 * keeps a target of 6 (as FFmpeg writes it), while a 6.5 s one needs 7. At least 1.
 */
export function targetDuration(durations: readonly number[], plannedMaxSeconds = 0): number {
  const rounded = [plannedMaxSeconds, ...durations].map(roundHalfUp);
  return Math.max(1, ...rounded);
}

/** Nearest integer, halves up; a float a hair under .5 (5.4999999999) stays down, as it should. */
function roundHalfUp(seconds: number): number {
  if (!Number.isFinite(seconds) || seconds < 0) throw new Error(`bad segment duration: ${seconds}`);
  return Math.floor(seconds + 0.5);
}

/** EXTINF's value: microseconds, like FFmpeg's playlists. */
function extinf(seconds: number): string {
  return seconds.toFixed(6);
}

/**
 * A variant (media) playlist. Incomplete: `#EXT-X-PLAYLIST-TYPE:EVENT`, `#EXT-X-START:TIME-OFFSET=0`
 * (players would otherwise join near the end) and no EXT-X-ENDLIST, so a player keeps reloading it;
 * later versions only append segments. Complete: `#EXT-X-PLAYLIST-TYPE:VOD` and EXT-X-ENDLIST (the one
 * change RFC 8216 6.2.1 allows besides appending). Segments must be numbered 1, 2, … with no hole.
 */
export function variantPlaylist(input: VariantPlaylistInput): string {
  const { segments, complete } = input;
  segments.forEach((s, i) => {
    if (s.number !== i + 1) {
      throw new Error(
        `variant playlist segments must be numbered 1, 2, …: got ${s.number} at position ${i + 1}`,
      );
    }
    if (!(s.durationSeconds > 0))
      throw new Error(`segment ${s.number} has no duration: ${s.durationSeconds}`);
  });
  if (complete && segments.length === 0) throw new Error("a complete variant playlist needs segments");
  const target = targetDuration(
    segments.map((s) => s.durationSeconds),
    input.plannedMaxSegmentSeconds,
  );
  const lines = [
    "#EXTM3U",
    `#EXT-X-VERSION:${PLAYLIST_VERSION}`,
    `#EXT-X-TARGETDURATION:${target}`,
    "#EXT-X-MEDIA-SEQUENCE:1",
    `#EXT-X-PLAYLIST-TYPE:${complete ? "VOD" : "EVENT"}`,
    "#EXT-X-INDEPENDENT-SEGMENTS",
    ...(complete ? [] : ["#EXT-X-START:TIME-OFFSET=0"]),
    `#EXT-X-MAP:URI="${input.mapUri ?? INIT_SEGMENT}"`,
  ];
  for (const s of segments) lines.push(`#EXTINF:${extinf(s.durationSeconds)},`, segmentName(s.number));
  if (complete) lines.push("#EXT-X-ENDLIST");
  return `${lines.join("\n")}\n`;
}

/**
 * How many segments, counting from 1, are all present: what an EVENT playlist may list (a later
 * segment stored before an earlier one waits for the hole to fill). Numbers past `total`, zero,
 * negative or fractional ones are ignored.
 */
export function contiguousPrefix(stored: ReadonlySet<number> | readonly number[], total: number): number {
  const present = stored instanceof Set ? stored : new Set(stored);
  let n = 0;
  while (n < total && present.has(n + 1)) n++;
  return n;
}

/** A rung as planned, before any of its segments is measured. */
export interface ProvisionalRung {
  name: string;
  width: number;
  height: number;
  /** The rung's VBV peak rate (PlannedRung.maxBitrate), bits/s. */
  maxBitrate: number;
  /** The rung's target average rate (PlannedRung.videoBitrate), bits/s. */
  videoBitrate: number;
  /** Video codec string, e.g. "avc1.640028" (from the rung's init segment or the encoder's settings). */
  codecs: string;
  frameRate: number;
}

/** The audio rendition as planned: AAC-LC at its nominal rate. */
export interface ProvisionalAudio {
  /** Nominal bit rate (-b:a), bits/s. */
  bitrate: number;
  channels: number;
  /** Defaults to AAC-LC ("mp4a.40.2"), which AUDIO_ARGS encodes. */
  codecs?: string;
}

export interface ProvisionalMasterInput {
  rungs: readonly ProvisionalRung[];
  /** null when the source has no audio (no audio group, no AUDIO attribute). */
  audio: ProvisionalAudio | null;
}

/**
 * The renditions of the provisional master playlist: BANDWIDTH is the rung's VBV peak plus the audio's
 * nominal rate, an honest upper bound before any segment exists (MEDIA.md); AVERAGE-BANDWIDTH (which
 * Apple requires on every variant) the rung's target average plus the audio's. Lowest first, like
 * toRenditions.
 */
export function provisionalRenditions({ rungs, audio }: ProvisionalMasterInput): Rendition[] {
  const audioCodecs = audio ? (audio.codecs ?? AAC_LC) : null;
  return rungs
    .map((r) => ({
      name: r.name,
      width: r.width,
      height: r.height,
      bandwidth: Math.round(r.maxBitrate + (audio?.bitrate ?? 0)),
      averageBandwidth: Math.round(r.videoBitrate + (audio?.bitrate ?? 0)),
      codecs: audioCodecs ? `${r.codecs},${audioCodecs}` : r.codecs,
      frameRate: Math.round(r.frameRate * 1000) / 1000,
    }))
    .sort((a, b) => a.bandwidth - b.bandwidth || a.height - b.height);
}

/**
 * The master playlist published while the video is processing: every rung and the audio group, field
 * for field as writeMasterPlaylist writes them, with planned rather than measured bandwidths. Replace it
 * with writeMasterPlaylist's once every rung is complete and measured.
 */
export function provisionalMasterPlaylist(input: ProvisionalMasterInput): string {
  return renderMasterPlaylist(provisionalRenditions(input), input.audio);
}
