import { AUDIO_FOLDER, IFRAME_PLAYLIST, type Rendition, VARIANT_PLAYLIST } from "@streamlet/shared";
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

/** A rung's I-frame playlist as measured (iframes.ts): its peak and average bit rates. */
export interface MeasuredIFrames {
  /** The rung it belongs to (its folder holds IFRAME_PLAYLIST). */
  name: string;
  bandwidth: number;
  averageBandwidth: number;
}

export interface MasterInput {
  rungs: MeasuredRung[];
  audio: MeasuredAudio | null;
  /** I-frame playlists by rung name (Apple 6.1: MUST be provided once they exist). */
  iframes?: MeasuredIFrames[];
}

/** One EXT-X-I-FRAME-STREAM-INF: the I-frame playlist's numbers plus its rung's video codec and size. */
export interface IFrameStream {
  name: string;
  bandwidth: number;
  averageBandwidth: number;
  /** The video codec only: an I-frame stream has no audio. */
  codecs: string;
  width: number;
  height: number;
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
  return renderMasterPlaylist(toRenditions(input), input.audio, toIFrameStreams(input));
}

/** Pairs each I-frame playlist with its rung (an unknown rung name is a bug), lowest bandwidth first. */
export function toIFrameStreams({ rungs, iframes }: MasterInput): IFrameStream[] {
  return (iframes ?? [])
    .map((i) => {
      const rung = rungs.find((r) => r.name === i.name);
      if (!rung) throw new Error(`I-frame playlist for unknown rung ${i.name}`);
      return {
        name: i.name,
        bandwidth: Math.round(i.bandwidth),
        averageBandwidth: Math.round(i.averageBandwidth),
        codecs: rung.codecs,
        width: rung.width,
        height: rung.height,
      };
    })
    .sort((a, b) => a.bandwidth - b.bandwidth || a.height - b.height);
}

/**
 * The master playlist's text for renditions already combined with their audio (bandwidths included),
 * in the order given: the one layout both the measured playlist and the provisional one written while
 * the video is still processing (playlists.ts) use, so the two differ only in their bandwidth figures.
 * I-frame streams, when given, follow the variants (one EXT-X-I-FRAME-STREAM-INF each, Apple 9.3/9.4).
 */
export function renderMasterPlaylist(
  renditions: readonly Rendition[],
  audio: Pick<MeasuredAudio, "channels"> | null,
  iframes: readonly IFrameStream[] = [],
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
  for (const i of iframes) {
    const attributes = [
      `BANDWIDTH=${i.bandwidth}`,
      `AVERAGE-BANDWIDTH=${i.averageBandwidth}`,
      `CODECS="${i.codecs}"`,
      `RESOLUTION=${i.width}x${i.height}`,
      `URI="${i.name}/${IFRAME_PLAYLIST}"`,
    ];
    lines.push(`#EXT-X-I-FRAME-STREAM-INF:${attributes.join(",")}`);
  }
  return `${lines.join("\n")}\n`;
}
