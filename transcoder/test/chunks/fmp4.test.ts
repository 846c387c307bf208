import { describe, expect, it } from "vitest";
import {
  Mp4FormatError,
  readBoxes,
  readFragment,
  readTrackInfo,
  restampFragment,
  splitFragmentedMp4,
  type TrackInfo,
} from "../../src/media/chunks/fmp4.ts";

/** A box from a type and payload parts. */
function box(type: string, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const header = Buffer.alloc(8);
  header.writeUInt32BE(body.length + 8, 0);
  header.write(type, 4, "latin1");
  return Buffer.concat([header, body]);
}

function u32(...values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => {
    if (v < 0) b.writeInt32BE(v, i * 4);
    else b.writeUInt32BE(v, i * 4);
  });
  return b;
}

const fullbox = (type: string, version: number, flags: number, ...parts: Buffer[]) =>
  box(type, u32(((version << 24) | flags) >>> 0), ...parts);

const TIMESCALE = 90_000;
const FRAME = 3003;

function init(): Buffer {
  const tkhd = fullbox("tkhd", 0, 3, u32(0, 0, 7, 0, 0), Buffer.alloc(60));
  const mdhd = fullbox("mdhd", 0, 0, u32(0, 0, TIMESCALE, 0), Buffer.alloc(4));
  const trex = fullbox("trex", 0, 0, u32(7, 1, 1111, 0, 0x01010000));
  return Buffer.concat([
    box("ftyp", Buffer.from("isom\0\0\x02\0isomiso6", "latin1")),
    box(
      "moov",
      fullbox("mvhd", 0, 0, Buffer.alloc(96)),
      box("trak", tkhd, box("mdia", mdhd)),
      box("mvex", trex),
    ),
  ]);
}

/**
 * A fragment as ffmpeg writes it: default-base-is-moof, tfdt v0, a trun with data offset, durations,
 * sizes, flags and (unsigned) composition offsets, then the mdat.
 */
function fragment(sequence: number, decodeTime: number, ctos: number[], tfdtVersion = 0): Buffer {
  const samples = ctos.map((cto, i) => [i === 0 ? 0x02000000 : 0x01010000, cto]);
  const payload = Buffer.from(ctos.map((_, i) => `frame${i}`).join(""), "latin1");
  const sizes = ctos.map((_, i) => `frame${i}`.length);
  const build = (dataOffset: number) => {
    const trun = fullbox(
      "trun",
      0,
      0x1 | 0x100 | 0x200 | 0x400 | 0x800,
      u32(ctos.length, dataOffset),
      ...samples.map(([flags, cto], i) => u32(FRAME, sizes[i] as number, flags as number, cto as number)),
    );
    const wide = Buffer.alloc(8);
    wide.writeBigUInt64BE(BigInt(decodeTime));
    const tfdt = tfdtVersion === 1 ? fullbox("tfdt", 1, 0, wide) : fullbox("tfdt", 0, 0, u32(decodeTime));
    const traf = box("traf", fullbox("tfhd", 0, 0x20000, u32(7)), tfdt, trun);
    return box("moof", fullbox("mfhd", 0, 0, u32(sequence)), traf);
  };
  const size = build(0).length;
  return Buffer.concat([build(size + 8), box("mdat", payload)]);
}

const TRACK: TrackInfo = {
  trackId: 7,
  timescale: TIMESCALE,
  defaultSampleDuration: 1111,
  defaultSampleFlags: 0x01010000,
};
// A 2-frame B-frame delay as ffmpeg muxes x264 (unsigned offsets, first frame presented 2 frames late).
const CTOS = [2 * FRAME, 5 * FRAME, 2 * FRAME, 0, FRAME];

/** The first sample's bytes, found through the trun's data offset (what a demuxer does). */
function firstSample(frag: Buffer): string {
  const [moof] = readBoxes(frag);
  const trafStart = frag.indexOf("traf", 0, "latin1") - 4;
  const trunStart = frag.indexOf("trun", trafStart, "latin1") - 4;
  const dataOffset = frag.readInt32BE(trunStart + 16);
  expect(moof?.type).toBe("moof");
  return frag.toString("latin1", (moof?.start ?? 0) + dataOffset, (moof?.start ?? 0) + dataOffset + 6);
}

describe("fmp4 boxes", () => {
  it("splits init from fragments and drops the trailing mfra", () => {
    const file = Buffer.concat([
      init(),
      fragment(1, 0, CTOS),
      fragment(2, 5 * FRAME, CTOS),
      box("mfra", u32(0)),
    ]);
    const split = splitFragmentedMp4(file);
    expect(split.init.equals(init())).toBe(true);
    expect(split.fragments).toHaveLength(2);
    expect(readBoxes(split.fragments[1] as Buffer).map((b) => b.type)).toEqual(["moof", "mdat"]);
  });

  it("reads the track's timescale and trex defaults", () => {
    expect(readTrackInfo(init())).toEqual(TRACK);
  });

  it("reads samples, sync flags and the earliest presentation time", () => {
    const info = readFragment(fragment(3, 10 * FRAME, CTOS), TRACK);
    expect(info).toMatchObject({
      sequenceNumber: 3,
      baseMediaDecodeTime: BigInt(10 * FRAME),
      sampleCount: 5,
    });
    expect(info.durations).toEqual(Array(5).fill(FRAME));
    expect(info.sync).toEqual([true, false, false, false, false]);
    expect(info.duration).toBe(5 * FRAME);
    // min(decode offset + cto): sample 0 at 2 frames, sample 3 at 3 + 0 frames → 2 frames.
    expect(info.earliestPresentation).toBe(BigInt(12 * FRAME));
  });

  it("re-stamps sequence, decode time and composition offsets (signed, trun v1) in place", () => {
    const original = fragment(1, 0, CTOS);
    const out = restampFragment(original, {
      sequenceNumber: 42,
      baseMediaDecodeTime: 600_600n,
      compositionShift: 2 * FRAME,
    });
    expect(out.length).toBe(original.length);
    const info = readFragment(out, TRACK);
    expect(info.sequenceNumber).toBe(42);
    expect(info.baseMediaDecodeTime).toBe(600_600n);
    expect(info.compositionOffsets).toEqual([0, 3 * FRAME, 0, -2 * FRAME, -FRAME]);
    expect(info.earliestPresentation).toBe(600_600n);
    expect(info.tfdtVersion).toBe(0);
    expect(firstSample(out)).toBe("frame0");
    // The input is left alone.
    expect(readFragment(original, TRACK).sequenceNumber).toBe(1);
  });

  it("widens tfdt to 64 bits past 2^32 ticks and moves the data offset with the moof", () => {
    const original = fragment(1, 0, CTOS);
    const late = 2n ** 32n + 9n;
    const out = restampFragment(original, { sequenceNumber: 2, baseMediaDecodeTime: late });
    expect(out.length).toBe(original.length + 4);
    const info = readFragment(out, TRACK);
    expect(info.tfdtVersion).toBe(1);
    expect(info.baseMediaDecodeTime).toBe(late);
    expect(info.compositionOffsets).toEqual(CTOS);
    expect(firstSample(out)).toBe("frame0");
    expect(readBoxes(out).map((b) => b.type)).toEqual(["moof", "mdat"]);
    // A version-1 tfdt stays version 1 even for small times.
    const again = restampFragment(out, { sequenceNumber: 3, baseMediaDecodeTime: 5n });
    expect(readFragment(again, TRACK)).toMatchObject({ tfdtVersion: 1, baseMediaDecodeTime: 5n });
    expect(firstSample(again)).toBe("frame0");
  });

  it("reads a version-1 tfdt as written by others", () => {
    const info = readFragment(fragment(1, 123_456, CTOS, 1), TRACK);
    expect(info).toMatchObject({ tfdtVersion: 1, baseMediaDecodeTime: 123_456n });
  });

  it("reads 64-bit box sizes", () => {
    const large = Buffer.concat([
      u32(1),
      Buffer.from("free", "latin1"),
      Buffer.alloc(8),
      Buffer.from("abcd"),
    ]);
    large.writeBigUInt64BE(20n, 8);
    expect(readBoxes(large)).toEqual([{ type: "free", start: 0, end: 20, payload: 16 }]);
  });

  it("rejects truncated and misordered files with a clear error", () => {
    const file = Buffer.concat([init(), fragment(1, 0, CTOS)]);
    expect(() => splitFragmentedMp4(file.subarray(0, file.length - 3))).toThrow(Mp4FormatError);
    expect(() => splitFragmentedMp4(fragment(1, 0, CTOS))).toThrow(/expected ftyp then moov/);
    const moofOnly = readBoxes(fragment(1, 0, CTOS))[0];
    const noMdat = Buffer.concat([init(), fragment(1, 0, CTOS).subarray(0, moofOnly?.end)]);
    expect(() => splitFragmentedMp4(noMdat)).toThrow(/not followed by an mdat/);
  });

  it("refuses to move fragments with an absolute base data offset", () => {
    const frag = fragment(1, 0, CTOS);
    const tfhd = frag.indexOf("tfhd", 0, "latin1") - 4;
    frag.writeUInt32BE(0x1, tfhd + 8);
    expect(() => restampFragment(frag, { sequenceNumber: 1, baseMediaDecodeTime: 0n })).toThrow(
      /base_data_offset/,
    );
  });
});
