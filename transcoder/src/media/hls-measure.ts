import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { VARIANT_PLAYLIST } from "@streamlet/shared";

export interface PlaylistSegment {
  uri: string;
  duration: number;
}

/** The parts of a VOD media playlist that measurement needs. */
export interface MediaPlaylist {
  targetDuration: number;
  /** EXT-X-MAP URI (the fMP4 init segment), null for TS playlists. */
  mapUri: string | null;
  segments: PlaylistSegment[];
  endList: boolean;
}

export interface BitrateStats {
  /** Peak segment bit rate (RFC 8216 4.3.4.2), bits/s. */
  peakBitrate: number;
  /** Total segment bytes over total duration, bits/s. */
  averageBitrate: number;
  durationSeconds: number;
  segmentCount: number;
}

/** What the init segment says about the video track. */
export interface AvcInfo {
  /** RFC 6381 codec string, e.g. "avc1.64001f". */
  codecs: string;
  width: number;
  height: number;
}

/** Reads a media playlist written by FFmpeg's hls muxer (one URI line after each EXTINF). */
export function parseMediaPlaylist(text: string): MediaPlaylist {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  if (lines[0] !== "#EXTM3U") throw new Error("not an M3U8 playlist (missing #EXTM3U)");
  let targetDuration = 0;
  let mapUri: string | null = null;
  let pending: number | null = null;
  let endList = false;
  const segments: PlaylistSegment[] = [];
  for (const line of lines.slice(1)) {
    if (line === "") continue;
    if (line.startsWith("#EXT-X-TARGETDURATION:")) targetDuration = Number(line.slice(22));
    else if (line.startsWith("#EXT-X-MAP:")) mapUri = /URI="([^"]*)"/.exec(line)?.[1] ?? null;
    else if (line.startsWith("#EXTINF:")) pending = Number.parseFloat(line.slice(8));
    else if (line === "#EXT-X-ENDLIST") endList = true;
    else if (!line.startsWith("#")) {
      if (pending === null || !Number.isFinite(pending)) throw new Error(`segment without EXTINF: ${line}`);
      segments.push({ uri: line, duration: pending });
      pending = null;
    }
  }
  return { targetDuration, mapUri, segments, endList };
}

/**
 * Measures bit rates the way the HLS spec defines them: the peak is the highest rate of any run of
 * consecutive segments lasting 0.5x-1.5x the target duration (so a short last segment can't spike it).
 */
export function measureSegments(
  segments: { duration: number; bytes: number }[],
  targetDuration: number,
): BitrateStats {
  const totalBytes = segments.reduce((sum, s) => sum + s.bytes, 0);
  const durationSeconds = segments.reduce((sum, s) => sum + s.duration, 0);
  const averageBitrate = durationSeconds > 0 ? (totalBytes * 8) / durationSeconds : 0;
  let peak = 0;
  for (let i = 0; i < segments.length; i++) {
    let bytes = 0;
    let duration = 0;
    for (let j = i; j < segments.length; j++) {
      const s = segments[j] as { duration: number; bytes: number };
      bytes += s.bytes;
      duration += s.duration;
      if (duration > 1.5 * targetDuration) break;
      if (duration >= 0.5 * targetDuration) peak = Math.max(peak, (bytes * 8) / duration);
    }
  }
  // A video shorter than half a segment has no qualifying run: its only honest peak is its average.
  const peakBitrate = peak > 0 ? peak : averageBitrate;
  return {
    peakBitrate: Math.round(peakBitrate),
    averageBitrate: Math.round(averageBitrate),
    durationSeconds,
    segmentCount: segments.length,
  };
}

interface Box {
  type: string;
  /** Offset of the payload (after the header). */
  start: number;
  end: number;
}

function* boxes(buf: Uint8Array, start: number, end: number): Generator<Box> {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let offset = start;
  while (offset + 8 <= end) {
    let size = view.getUint32(offset);
    const type = String.fromCharCode(...buf.subarray(offset + 4, offset + 8));
    let header = 8;
    if (size === 1) {
      if (offset + 16 > end) return;
      size = Number(view.getBigUint64(offset + 8));
      header = 16;
    } else if (size === 0) {
      size = end - offset;
    }
    if (size < header || offset + size > end) return;
    yield { type, start: offset + header, end: offset + size };
    offset += size;
  }
}

function findPath(buf: Uint8Array, path: string[], start = 0, end = buf.byteLength): Box | null {
  const [head, ...rest] = path;
  for (const box of boxes(buf, start, end)) {
    if (box.type !== head) continue;
    if (rest.length === 0) return box;
    const found = findPath(buf, rest, box.start, box.end);
    if (found) return found;
  }
  return null;
}

const hex2 = (n: number) => n.toString(16).padStart(2, "0");

/** RFC 6381 string from an avcC payload: profile_idc, constraint flags, level_idc as hex. */
export function avcCodecString(avcC: Uint8Array, sampleEntry = "avc1"): string {
  if (avcC.byteLength < 4 || avcC[0] !== 1) throw new Error("not an AVCDecoderConfigurationRecord");
  return `${sampleEntry}.${hex2(avcC[1] as number)}${hex2(avcC[2] as number)}${hex2(avcC[3] as number)}`;
}

/** Reads the exact codec string and coded size from an fMP4 init segment, for CODECS and RESOLUTION. */
export function parseAvcInit(init: Uint8Array): AvcInfo {
  // Visual sample entries hold 78 bytes of fields before their child boxes (ISO/IEC 14496-12 12.1.3).
  const stsd = findPath(init, ["moov", "trak", "mdia", "minf", "stbl", "stsd"]);
  if (!stsd) throw new Error("init segment has no stsd box");
  for (const entry of boxes(init, stsd.start + 8, stsd.end)) {
    if (entry.type !== "avc1" && entry.type !== "avc3") continue;
    const view = new DataView(init.buffer, init.byteOffset, init.byteLength);
    const width = view.getUint16(entry.start + 24);
    const height = view.getUint16(entry.start + 26);
    const avcC = findPath(init, ["avcC"], entry.start + 78, entry.end);
    if (!avcC) throw new Error(`${entry.type} sample entry has no avcC box`);
    return { codecs: avcCodecString(init.subarray(avcC.start, avcC.end), entry.type), width, height };
  }
  throw new Error("init segment has no H.264 (avc1/avc3) sample entry");
}

export interface MeasuredVariant {
  playlist: MediaPlaylist;
  stats: BitrateStats;
  /** Bytes of the init segment named by EXT-X-MAP. */
  init: Uint8Array | null;
}

/** Measures one variant folder from the files ffmpeg wrote. */
export async function measureVariant(dir: string): Promise<MeasuredVariant> {
  const playlist = parseMediaPlaylist(await readFile(join(dir, VARIANT_PLAYLIST), "utf8"));
  const sized = await Promise.all(
    playlist.segments.map(async (s) => ({
      duration: s.duration,
      bytes: (await stat(join(dir, s.uri))).size,
    })),
  );
  const init = playlist.mapUri ? new Uint8Array(await readFile(join(dir, playlist.mapUri))) : null;
  return { playlist, stats: measureSegments(sized, playlist.targetDuration), init };
}
