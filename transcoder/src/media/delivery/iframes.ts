import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { INIT_SEGMENT } from "@streamlet/shared";
import {
  type FragmentInfo,
  Mp4FormatError,
  readBoxes,
  readFragment,
  readTrackInfo,
  type TrackInfo,
} from "../chunks/fmp4.ts";
import { PLAYLIST_VERSION, targetDuration } from "../playlists.ts";
import type { LocalTrack } from "./types.ts";

/**
 * I-frame playlists (EXT-X-I-FRAMES-ONLY, Apple HLS authoring spec 6.1): one entry per fMP4 fragment
 * (one fragment per GOP, each starting with an IDR), a byte range covering the moof, the mdat header
 * and the IDR's own bytes only, so trick play and scrubbing fetch one picture, not a GOP.
 */

/** One moof+mdat of a segment file: its samples' timing and where their bytes are. */
export interface SegmentFragment {
  info: FragmentInfo;
  /** Byte offset of the moof in the segment file. */
  offset: number;
  /** Where the mdat that follows it ends. */
  end: number;
  /** Where that mdat's payload starts. */
  mdatPayload: number;
  /** Each sample's [offset, offset + size) in the segment file, in decode order. */
  sampleOffsets: number[];
  sampleSizes: number[];
}

// tfhd / trun flags (ISO/IEC 14496-12 8.8.7, 8.8.8)
const TFHD_BASE_DATA_OFFSET = 0x1;
const TFHD_SAMPLE_DESCRIPTION = 0x2;
const TFHD_DEFAULT_DURATION = 0x8;
const TFHD_DEFAULT_SIZE = 0x10;
const TRUN_DATA_OFFSET = 0x1;
const TRUN_FIRST_FLAGS = 0x4;
const TRUN_DURATION = 0x100;
const TRUN_SIZE = 0x200;
const TRUN_FLAGS = 0x400;
const TRUN_CTO = 0x800;

/** The payload of the first box of `type` directly inside [start, end). */
function payloadIn(buf: Buffer, start: number, end: number, type: string): Buffer {
  const box = readBoxes(buf, start, end).find((b) => b.type === type);
  if (!box) throw new Mp4FormatError(`no ${type} box`);
  return buf.subarray(box.payload, box.end);
}

/** Sample byte positions of one moof (one traf, one trun: what our muxing writes). */
function sampleLayout(segment: Buffer, moofStart: number, moofPayload: number, moofEnd: number) {
  const traf = readBoxes(segment, moofPayload, moofEnd).find((b) => b.type === "traf");
  if (!traf) throw new Mp4FormatError(`moof at byte ${moofStart} has no traf`);
  const tfhd = payloadIn(segment, traf.payload, traf.end, "tfhd");
  const trun = payloadIn(segment, traf.payload, traf.end, "trun");
  const tfhdFlags = tfhd.readUInt32BE(0) & 0xffffff;
  let at = 8;
  let base = moofStart;
  if (tfhdFlags & TFHD_BASE_DATA_OFFSET) {
    base = Number(tfhd.readBigUInt64BE(at));
    at += 8;
  }
  if (tfhdFlags & TFHD_SAMPLE_DESCRIPTION) at += 4;
  if (tfhdFlags & TFHD_DEFAULT_DURATION) at += 4;
  const defaultSize = tfhdFlags & TFHD_DEFAULT_SIZE ? tfhd.readUInt32BE(at) : null;

  const flags = trun.readUInt32BE(0) & 0xffffff;
  const count = trun.readUInt32BE(4);
  let p = 8;
  let dataOffset: number | null = null;
  if (flags & TRUN_DATA_OFFSET) {
    dataOffset = trun.readInt32BE(p);
    p += 4;
  }
  if (flags & TRUN_FIRST_FLAGS) p += 4;
  const stride = [TRUN_DURATION, TRUN_SIZE, TRUN_FLAGS, TRUN_CTO].filter((f) => flags & f).length * 4;
  const sizeAt = flags & TRUN_DURATION ? 4 : 0;
  if (trun.length < p + stride * count) throw new Mp4FormatError("trun is shorter than its samples");
  const sizes: number[] = [];
  for (let i = 0; i < count; i++) {
    if (flags & TRUN_SIZE) sizes.push(trun.readUInt32BE(p + i * stride + sizeAt));
    else if (defaultSize !== null) sizes.push(defaultSize);
    else throw new Mp4FormatError(`moof at byte ${moofStart} gives no sample sizes`);
  }
  return { first: dataOffset === null ? null : base + dataOffset, sizes };
}

/**
 * Every moof+mdat of a segment file with its samples' timing (readFragment) and byte positions; a
 * sample outside the mdat that follows its moof is a format error.
 */
export function segmentFragments(segment: Buffer, track: TrackInfo): SegmentFragment[] {
  const boxes = readBoxes(segment);
  const fragments: SegmentFragment[] = [];
  boxes.forEach((box, i) => {
    if (box.type !== "moof") return;
    const mdat = boxes[i + 1];
    if (mdat?.type !== "mdat")
      throw new Mp4FormatError(`moof at byte ${box.start} is not followed by an mdat`);
    const info = readFragment(segment.subarray(box.start, mdat.end), track);
    const layout = sampleLayout(segment, box.start, box.payload, box.end);
    const sampleOffsets: number[] = [];
    let at = layout.first ?? mdat.payload;
    for (const size of layout.sizes) {
      if (at < mdat.payload || at + size > mdat.end) {
        throw new Mp4FormatError(`moof at byte ${box.start} points at sample bytes outside its mdat`);
      }
      sampleOffsets.push(at);
      at += size;
    }
    fragments.push({
      info,
      offset: box.start,
      end: mdat.end,
      mdatPayload: mdat.payload,
      sampleOffsets,
      sampleSizes: layout.sizes,
    });
  });
  return fragments;
}

/** One I-frame: a byte range of a segment file and the time until the next I-frame. */
export interface IFrameEntry {
  segment: string;
  offset: number;
  length: number;
  durationSeconds: number;
}

export interface IFramePlaylist {
  text: string;
  /** Highest entry bit rate (bytes x 8 / EXTINF), bits/s: the I-frame stream's BANDWIDTH. */
  peakBitrate: number;
  /** All entries' bits over their total duration: AVERAGE-BANDWIDTH. */
  averageBitrate: number;
  entries: IFrameEntry[];
}

/** The I-frames of one rung: each fragment's moof, mdat header and first (IDR) sample. */
export async function iframeEntries(rung: LocalTrack): Promise<IFrameEntry[]> {
  const track = readTrackInfo(await readFile(rung.initPath));
  const entries: IFrameEntry[] = [];
  for (const [s, path] of rung.segmentPaths.entries()) {
    const fragments = segmentFragments(await readFile(path), track);
    if (fragments.length === 0) throw new Mp4FormatError(`${rung.name} segment ${s + 1} has no fragments`);
    for (const [k, f] of fragments.entries()) {
      if (!f.info.sync[0] || f.sampleOffsets.length === 0) {
        throw new Mp4FormatError(
          `${rung.name} segment ${s + 1} fragment ${k + 1} does not start with a sync sample`,
        );
      }
      const idrEnd = (f.sampleOffsets[0] as number) + (f.sampleSizes[0] as number);
      entries.push({
        segment: basename(path),
        offset: f.offset,
        length: idrEnd - f.offset,
        durationSeconds: f.info.duration / track.timescale,
      });
    }
  }
  return entries;
}

/**
 * The EXT-X-I-FRAMES-ONLY playlist of one rung (its folder holds it: segment URIs are relative), with
 * the I-frame stream's peak and average bit rates for the master playlist's EXT-X-I-FRAME-STREAM-INF.
 */
export async function iframePlaylist(rung: LocalTrack): Promise<IFramePlaylist> {
  const entries = await iframeEntries(rung);
  if (entries.length === 0) throw new Error(`${rung.name} has no segments for an I-frame playlist`);
  const lines = [
    "#EXTM3U",
    `#EXT-X-VERSION:${PLAYLIST_VERSION}`,
    `#EXT-X-TARGETDURATION:${targetDuration(entries.map((e) => e.durationSeconds))}`,
    "#EXT-X-MEDIA-SEQUENCE:1",
    "#EXT-X-PLAYLIST-TYPE:VOD",
    "#EXT-X-I-FRAMES-ONLY",
    `#EXT-X-MAP:URI="${INIT_SEGMENT}"`,
  ];
  let peak = 0;
  let bits = 0;
  let seconds = 0;
  for (const e of entries) {
    lines.push(
      `#EXTINF:${e.durationSeconds.toFixed(6)},`,
      `#EXT-X-BYTERANGE:${e.length}@${e.offset}`,
      e.segment,
    );
    if (e.durationSeconds > 0) peak = Math.max(peak, (e.length * 8) / e.durationSeconds);
    bits += e.length * 8;
    seconds += e.durationSeconds;
  }
  lines.push("#EXT-X-ENDLIST");
  return {
    text: `${lines.join("\n")}\n`,
    peakBitrate: Math.round(peak),
    averageBitrate: seconds > 0 ? Math.round(bits / seconds) : 0,
    entries,
  };
}
