import { describe, expect, it } from "vitest";
import { rewriteMapUri } from "../src/media/hls-layout.ts";
import {
  avcCodecString,
  measureSegments,
  parseAvcInit,
  parseMediaPlaylist,
} from "../src/media/hls-measure.ts";

/** A variant playlist as FFmpeg 5.1 writes it for fMP4 (29.97 fps, 2 s GOP). */
const PLAYLIST = `#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:6
#EXT-X-MEDIA-SEQUENCE:1
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MAP:URI="init_720p.mp4"
#EXTINF:6.006000,
seg_00001.m4s
#EXTINF:6.006000,
seg_00002.m4s
#EXTINF:1.001000,
seg_00003.m4s
#EXT-X-ENDLIST
`;

describe("parseMediaPlaylist", () => {
  it("reads the map, segment URIs and EXTINF durations", () => {
    expect(parseMediaPlaylist(PLAYLIST)).toEqual({
      targetDuration: 6,
      mapUri: "init_720p.mp4",
      endList: true,
      segments: [
        { uri: "seg_00001.m4s", duration: 6.006 },
        { uri: "seg_00002.m4s", duration: 6.006 },
        { uri: "seg_00003.m4s", duration: 1.001 },
      ],
    });
  });

  it("rejects text that is not a playlist", () => {
    expect(() => parseMediaPlaylist("<html>")).toThrow(/EXTM3U/);
  });

  it("rewriteMapUri points EXT-X-MAP at init.mp4 and leaves the rest", () => {
    const out = rewriteMapUri(PLAYLIST, "init.mp4");
    expect(out).toContain('#EXT-X-MAP:URI="init.mp4"\n');
    expect(out.replace('URI="init.mp4"', 'URI="init_720p.mp4"')).toBe(PLAYLIST);
  });
});

describe("measureSegments", () => {
  it("peak = highest rate over runs of 3-9 s (0.5-1.5x target), average = bytes/duration", () => {
    const { segments } = parseMediaPlaylist(PLAYLIST);
    const sizes = [3_000_000, 4_500_000, 900_000];
    const stats = measureSegments(
      segments.map((s, i) => ({ duration: s.duration, bytes: sizes[i] as number })),
      6,
    );
    // Runs: [1] 6.006 s → 3,996,004; [2] 6.006 s → 5,994,006; [2,3] 7.007 s → 6,165,263; [3] alone is too short.
    expect(stats).toEqual({
      peakBitrate: 6_165_263,
      averageBitrate: 5_164_067,
      durationSeconds: 13.013,
      segmentCount: 3,
    });
  });

  it("a short last segment alone cannot set the peak", () => {
    const stats = measureSegments(
      [
        { duration: 6, bytes: 750_000 },
        { duration: 0.5, bytes: 500_000 },
      ],
      6,
    );
    // Alone the 0.5 s segment would be 8 Mb/s; as part of the 6.5 s run it is not.
    expect(stats.peakBitrate).toBe(Math.round((1_250_000 * 8) / 6.5));
  });

  it("a clip shorter than half a segment uses its average as the peak", () => {
    expect(measureSegments([{ duration: 2.5, bytes: 100_000 }], 6)).toEqual({
      peakBitrate: 320_000,
      averageBitrate: 320_000,
      durationSeconds: 2.5,
      segmentCount: 1,
    });
  });
});

function box(type: string, ...payload: Uint8Array[]): Uint8Array {
  const size = 8 + payload.reduce((n, p) => n + p.byteLength, 0);
  const out = new Uint8Array(size);
  new DataView(out.buffer).setUint32(0, size);
  out.set(new TextEncoder().encode(type), 4);
  let offset = 8;
  for (const p of payload) {
    out.set(p, offset);
    offset += p.byteLength;
  }
  return out;
}

/** An init segment with just the boxes on the path to avcC (what the parser must walk). */
function initSegment(entry: "avc1" | "avc3", width: number, height: number, avcC: number[]): Uint8Array {
  const fields = new Uint8Array(78);
  new DataView(fields.buffer).setUint16(24, width);
  new DataView(fields.buffer).setUint16(26, height);
  const sampleEntry = box(entry, fields, box("avcC", Uint8Array.from(avcC)), box("pasp", new Uint8Array(8)));
  const stsd = box("stsd", Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 1]), sampleEntry);
  const trak = box("trak", box("tkhd", new Uint8Array(84)), box("mdia", box("minf", box("stbl", stsd))));
  return Uint8Array.from([
    ...box("ftyp", new TextEncoder().encode("iso5")),
    ...box("moov", box("mvhd", new Uint8Array(100)), trak),
  ]);
}

describe("avcC → RFC 6381 codec string", () => {
  it.each([
    ["High 4.0", [1, 0x64, 0x00, 0x28], "avc1.640028"],
    ["High 3.1", [1, 0x64, 0x00, 0x1f], "avc1.64001f"],
    ["Main 3.0", [1, 0x4d, 0x40, 0x1e], "avc1.4d401e"],
    ["Constrained Baseline 3.0", [1, 0x42, 0xc0, 0x1e], "avc1.42c01e"],
  ])("%s", (_label, record, expected) => {
    expect(avcCodecString(Uint8Array.from([...record, 0xff, 0xe1]))).toBe(expected);
  });

  it("walks moov/trak/mdia/minf/stbl/stsd to the avcC and reads the coded size", () => {
    const init = initSegment("avc1", 1280, 720, [1, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0x00, 0x00]);
    expect(parseAvcInit(init)).toEqual({ codecs: "avc1.64001f", width: 1280, height: 720 });
  });

  it("keeps the avc3 sample entry name", () => {
    expect(parseAvcInit(initSegment("avc3", 854, 480, [1, 0x64, 0x00, 0x1e])).codecs).toBe("avc3.64001e");
  });

  it("rejects an init segment without H.264", () => {
    expect(() => parseAvcInit(box("ftyp", new Uint8Array(8)))).toThrow(/stsd/);
    expect(() => avcCodecString(Uint8Array.from([0, 0x64, 0, 0x1f]))).toThrow(
      /AVCDecoderConfigurationRecord/,
    );
  });
});
