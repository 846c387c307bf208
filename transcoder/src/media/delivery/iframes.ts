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
    if (info.sizes === null) throw new Mp4FormatError(`moof at byte ${box.start} gives no sample sizes`);
    const sampleOffsets: number[] = [];
    let at = info.dataOffset === null ? mdat.payload : (info.baseDataOffset ?? box.start) + info.dataOffset;
    for (const size of info.sizes) {
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
      sampleSizes: info.sizes,
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
