import { AUDIO_FOLDER, type Rendition, VARIANT_PLAYLIST } from "@streamlet/shared";
import { AUDIO_GROUP } from "./ffmpeg-args.ts";

/** A video rung as measured from its files. Bit rates are video only. */
export interface MeasuredRung {
  name: string;
  width: number;
  height: number;
  peakBitrate: number;
  averageBitrate: number;
  /** Video codec string, e.g. "avc1.640028". */
  codecs: string;
  frameRate: number;
}

/** The single audio rendition as measured. */
export interface MeasuredAudio {
  peakBitrate: number;
  averageBitrate: number;
  /** "mp4a.40.2" (AAC-LC). */
  codecs: string;
  channels: number;
}

export interface MasterInput {
  rungs: MeasuredRung[];
  audio: MeasuredAudio | null;
}

/** AAC-LC, which is what buildLadderArgs encodes. */
export const AAC_LC = "mp4a.40.2";

/** Combines each rung with the audio it plays with, lowest bandwidth first (players start there). */
export function toRenditions({ rungs, audio }: MasterInput): Rendition[] {
  return rungs
    .map((r) => ({
      name: r.name,
      width: r.width,
      height: r.height,
      bandwidth: Math.round(r.peakBitrate + (audio?.peakBitrate ?? 0)),
      averageBandwidth: Math.round(r.averageBitrate + (audio?.averageBitrate ?? 0)),
      codecs: audio ? `${r.codecs},${audio.codecs}` : r.codecs,
      frameRate: Math.round(r.frameRate * 1000) / 1000,
    }))
    .sort((a, b) => a.bandwidth - b.bandwidth || a.height - b.height);
}

/**
 * Writes the master playlist from measured numbers (FFmpeg's own has nominal BANDWIDTH and lacks
 * AVERAGE-BANDWIDTH, FRAME-RATE and LANGUAGE).
 */
export function writeMasterPlaylist(input: MasterInput): string {
  return renderMasterPlaylist(toRenditions(input), input.audio);
}

/**
 * The master playlist's text for renditions already combined with their audio (bandwidths included),
 * in the order given: the one layout both the measured playlist and the provisional one written while
 * the video is still processing (playlists.ts) use, so the two differ only in their bandwidth figures.
 */
export function renderMasterPlaylist(
  renditions: readonly Rendition[],
  audio: Pick<MeasuredAudio, "channels"> | null,
): string {
  const lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"];
  if (audio) {
    lines.push(
      `#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="${AUDIO_GROUP}",NAME="Default",LANGUAGE="und",DEFAULT=YES,` +
        `AUTOSELECT=YES,CHANNELS="${audio.channels}",URI="${AUDIO_FOLDER}/${VARIANT_PLAYLIST}"`,
    );
  }
  for (const r of renditions) {
    const attributes = [
      `BANDWIDTH=${r.bandwidth}`,
      `AVERAGE-BANDWIDTH=${r.averageBandwidth}`,
      `CODECS="${r.codecs}"`,
      `RESOLUTION=${r.width}x${r.height}`,
      `FRAME-RATE=${r.frameRate.toFixed(3)}`,
      ...(audio ? [`AUDIO="${AUDIO_GROUP}"`] : []),
    ];
    lines.push(`#EXT-X-STREAM-INF:${attributes.join(",")}`, `${r.name}/${VARIANT_PLAYLIST}`);
  }
  return `${lines.join("\n")}\n`;
}
