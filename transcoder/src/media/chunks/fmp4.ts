/**
 * A small ISO-BMFF (fragmented MP4) reader/writer for what chunked encoding needs: split ffmpeg's
 * fragmented MP4 into the init (ftyp+moov) and its moof+mdat fragments, read each fragment's samples,
 * and re-stamp fragments (mfhd sequence number, tfdt decode time, trun composition offsets) so chunks
 * encoded apart join into one continuous track. Pure functions on Buffers; one video track only.
 */

/** A box as found in a buffer: [start, end) covers its header and payload. */
export interface BoxRef {
  type: string;
  start: number;
  end: number;
  /** Where the payload starts (after size, type and any 64-bit size). */
  payload: number;
}

/** A parsed box tree: containers have children, leaves keep their payload bytes. */
export interface BoxNode {
  type: string;
  payload?: Buffer;
  children?: BoxNode[];
}

/** The boxes this module descends into. */
const CONTAINERS = new Set(["moov", "trak", "mdia", "minf", "stbl", "mvex", "moof", "traf", "edts", "dinf"]);

/** A malformed or unexpected MP4: says which box and why. */
export class Mp4FormatError extends Error {
  override name = "Mp4FormatError";
}

/** The boxes in buf[start, end), in order; a box running past `end` is an error. */
export function readBoxes(buf: Buffer, start = 0, end = buf.length): BoxRef[] {
  const boxes: BoxRef[] = [];
  let offset = start;
  while (offset < end) {
    if (end - offset < 8) throw new Mp4FormatError(`truncated box header at byte ${offset}`);
    let size = buf.readUInt32BE(offset);
    const type = buf.toString("latin1", offset + 4, offset + 8);
    let payload = offset + 8;
    if (size === 1) {
      if (end - offset < 16) throw new Mp4FormatError(`truncated 64-bit size of ${type} at byte ${offset}`);
      size = Number(buf.readBigUInt64BE(offset + 8));
      payload = offset + 16;
    } else if (size === 0) {
      size = end - offset;
    }
    if (size < payload - offset || offset + size > end) {
      throw new Mp4FormatError(`box ${type} at byte ${offset} has size ${size} past the end (${end})`);
    }
    boxes.push({ type, start: offset, end: offset + size, payload });
    offset += size;
  }
  return boxes;
}

/** Parses a box (and, for known containers, its children) into a tree. */
export function parseBox(buf: Buffer, ref: BoxRef): BoxNode {
  if (CONTAINERS.has(ref.type)) {
    return {
      type: ref.type,
      children: readBoxes(buf, ref.payload, ref.end).map((child) => parseBox(buf, child)),
    };
  }
  return { type: ref.type, payload: buf.subarray(ref.payload, ref.end) };
}

/** Writes a box tree back to bytes, sizes recomputed (64-bit size only when needed). */
export function writeBox(node: BoxNode): Buffer {
  const body = node.children ? Buffer.concat(node.children.map(writeBox)) : (node.payload ?? Buffer.alloc(0));
  const type = Buffer.from(node.type, "latin1");
  if (type.length !== 4) throw new Mp4FormatError(`box type must be 4 bytes: ${node.type}`);
  if (body.length + 8 <= 0xffffffff) {
    const header = Buffer.alloc(8);
    header.writeUInt32BE(body.length + 8, 0);
    type.copy(header, 4);
    return Buffer.concat([header, body]);
  }
  const header = Buffer.alloc(16);
  header.writeUInt32BE(1, 0);
  type.copy(header, 4);
  header.writeBigUInt64BE(BigInt(body.length + 16), 8);
  return Buffer.concat([header, body]);
}

/** The first child of `node` with this type, or an error naming the path. */
function child(node: BoxNode, type: string): BoxNode {
  const found = node.children?.find((c) => c.type === type);
  if (!found) throw new Mp4FormatError(`${node.type} has no ${type}`);
  return found;
}

function payloadOf(node: BoxNode): Buffer {
  if (!node.payload) throw new Mp4FormatError(`${node.type} has no payload`);
  return node.payload;
}

/** A fragmented MP4 cut at its top level. */
export interface SplitMp4 {
  /** ftyp + moov, byte for byte as the muxer wrote them. */
  init: Buffer;
  /** Each moof with the mdat that follows it, in order. */
  fragments: Buffer[];
}

/** Splits ffmpeg's fragmented MP4 into the init and its moof+mdat fragments (mfra, free, sidx dropped). */
export function splitFragmentedMp4(buf: Buffer): SplitMp4 {
  const boxes = readBoxes(buf);
  const ftyp = boxes[0];
  const moov = boxes[1];
  if (ftyp?.type !== "ftyp" || moov?.type !== "moov") {
    throw new Mp4FormatError(`expected ftyp then moov, found ${boxes.map((b) => b.type).join(",")}`);
  }
  const fragments: Buffer[] = [];
  for (let i = 2; i < boxes.length; i++) {
    const box = boxes[i] as BoxRef;
    if (box.type !== "moof") {
      if (box.type === "mdat") throw new Mp4FormatError(`mdat at byte ${box.start} without a moof before it`);
      continue;
    }
    const mdat = boxes[i + 1];
    if (mdat?.type !== "mdat")
      throw new Mp4FormatError(`moof at byte ${box.start} is not followed by an mdat`);
    fragments.push(buf.subarray(box.start, mdat.end));
    i++;
  }
  return { init: buf.subarray(0, moov.end), fragments };
}

/** What the init says about the (only) track: its timescale and trex defaults. */
export interface TrackInfo {
  trackId: number;
  /** mdhd timescale: ticks per second of every time in the fragments. */
  timescale: number;
  defaultSampleDuration: number;
  defaultSampleFlags: number;
}

/** Reads the single track's timescale and defaults from an init segment (ftyp+moov). */
export function readTrackInfo(init: Buffer): TrackInfo {
  const top = readBoxes(init);
  const moovRef = top.find((b) => b.type === "moov");
  if (!moovRef) throw new Mp4FormatError("init has no moov");
  const moov = parseBox(init, moovRef);
  const traks = moov.children?.filter((c) => c.type === "trak") ?? [];
  if (traks.length !== 1) throw new Mp4FormatError(`expected one track, found ${traks.length}`);
  const trak = traks[0] as BoxNode;
  const tkhd = payloadOf(child(trak, "tkhd"));
  const trackId = tkhd.readUInt32BE(tkhd[0] === 1 ? 20 : 12);
  const mdhd = payloadOf(child(child(trak, "mdia"), "mdhd"));
  const timescale = mdhd.readUInt32BE(mdhd[0] === 1 ? 20 : 12);
  const trex = payloadOf(child(child(moov, "mvex"), "trex"));
  return {
    trackId,
    timescale,
    defaultSampleDuration: trex.readUInt32BE(12),
    defaultSampleFlags: trex.readUInt32BE(20),
  };
}

/** Sample flags bit: sample_is_non_sync_sample. */
const NON_SYNC = 0x10000;

// tfhd flags
const TFHD_BASE_DATA_OFFSET = 0x1;
const TFHD_SAMPLE_DESCRIPTION = 0x2;
const TFHD_DEFAULT_DURATION = 0x8;
const TFHD_DEFAULT_SIZE = 0x10;
const TFHD_DEFAULT_FLAGS = 0x20;
// trun flags
const TRUN_DATA_OFFSET = 0x1;
const TRUN_FIRST_FLAGS = 0x4;
const TRUN_DURATION = 0x100;
const TRUN_SIZE = 0x200;
const TRUN_FLAGS = 0x400;
const TRUN_CTO = 0x800;

/** One fragment's samples, in decode order, times in track timescale ticks. */
export interface FragmentInfo {
  sequenceNumber: number;
  baseMediaDecodeTime: bigint;
  tfdtVersion: number;
  sampleCount: number;
  durations: number[];
  /** Composition (presentation minus decode) offsets; zeros when the trun has none. */
  compositionOffsets: number[];
  /** Whether each sample is a sync sample (an IDR for H.264). */
  sync: boolean[];
  /** Each sample's size in bytes (trun, else the tfhd default); null when neither gives them. */
  sizes: number[] | null;
  /**
   * Where the first sample's bytes start: trun's data offset from the base (the moof's start unless
   * `baseDataOffset` is set); null when the trun gives none (the samples then start the mdat's payload).
   */
  dataOffset: number | null;
  /** tfhd's explicit base data offset (a file offset), or null: the base is the moof's start. */
  baseDataOffset: number | null;
  /** Sum of the sample durations. */
  duration: number;
  /** Earliest presentation time: baseMediaDecodeTime + min(decode offset + composition offset). */
  earliestPresentation: bigint;
}

interface TrunFields {
  version: number;
  flags: number;
  sampleCount: number;
  /** Byte offset of the per-sample table in the payload. */
  table: number;
  stride: number;
  dataOffsetAt: number | null;
  firstFlags: number | null;
}

function readTrunFields(trun: Buffer): TrunFields {
  const version = trun[0] ?? 0;
  const flags = trun.readUInt32BE(0) & 0xffffff;
  const sampleCount = trun.readUInt32BE(4);
  let at = 8;
  let dataOffsetAt: number | null = null;
  if (flags & TRUN_DATA_OFFSET) {
    dataOffsetAt = at;
    at += 4;
  }
  let firstFlags: number | null = null;
  if (flags & TRUN_FIRST_FLAGS) {
    firstFlags = trun.readUInt32BE(at);
    at += 4;
  }
  const stride = [TRUN_DURATION, TRUN_SIZE, TRUN_FLAGS, TRUN_CTO].filter((f) => flags & f).length * 4;
  if (trun.length < at + stride * sampleCount) throw new Mp4FormatError("trun is shorter than its samples");
  return { version, flags, sampleCount, table: at, stride, dataOffsetAt, firstFlags };
}

/** The parsed moof of a fragment plus handles on the boxes re-stamping touches. */
function openFragment(fragment: Buffer) {
  const [moofRef] = readBoxes(fragment);
  if (moofRef?.type !== "moof") throw new Mp4FormatError("fragment does not start with moof");
  const moof = parseBox(fragment, moofRef);
  const trafs = moof.children?.filter((c) => c.type === "traf") ?? [];
  if (trafs.length !== 1) throw new Mp4FormatError(`expected one traf per moof, found ${trafs.length}`);
  const traf = trafs[0] as BoxNode;
  const truns = traf.children?.filter((c) => c.type === "trun") ?? [];
  if (truns.length !== 1) throw new Mp4FormatError(`expected one trun per traf, found ${truns.length}`);
  return {
    moofRef,
    moof,
    traf,
    mfhd: child(moof, "mfhd"),
    tfhd: child(traf, "tfhd"),
    tfdt: child(traf, "tfdt"),
    trun: truns[0] as BoxNode,
  };
}

/** Reads a fragment's sequence number, decode time and samples (trex defaults from the init). */
export function readFragment(fragment: Buffer, track: TrackInfo): FragmentInfo {
  const { mfhd, tfhd, tfdt, trun } = openFragment(fragment);
  const tfhdBytes = payloadOf(tfhd);
  const tfhdFlags = tfhdBytes.readUInt32BE(0) & 0xffffff;
  let at = 8;
  let baseDataOffset: number | null = null;
  if (tfhdFlags & TFHD_BASE_DATA_OFFSET) {
    baseDataOffset = Number(tfhdBytes.readBigUInt64BE(at));
    at += 8;
  }
  if (tfhdFlags & TFHD_SAMPLE_DESCRIPTION) at += 4;
  let defaultDuration = track.defaultSampleDuration;
  if (tfhdFlags & TFHD_DEFAULT_DURATION) {
    defaultDuration = tfhdBytes.readUInt32BE(at);
    at += 4;
  }
  let defaultSize: number | null = null;
  if (tfhdFlags & TFHD_DEFAULT_SIZE) {
    defaultSize = tfhdBytes.readUInt32BE(at);
    at += 4;
  }
  const defaultFlags = tfhdFlags & TFHD_DEFAULT_FLAGS ? tfhdBytes.readUInt32BE(at) : track.defaultSampleFlags;

  const tfdtBytes = payloadOf(tfdt);
  const tfdtVersion = tfdtBytes[0] ?? 0;
  const baseMediaDecodeTime =
    tfdtVersion === 1 ? tfdtBytes.readBigUInt64BE(4) : BigInt(tfdtBytes.readUInt32BE(4));

  const trunBytes = payloadOf(trun);
  const t = readTrunFields(trunBytes);
  const durations: number[] = [];
  const sizes: number[] = [];
  const compositionOffsets: number[] = [];
  const sync: boolean[] = [];
  for (let i = 0; i < t.sampleCount; i++) {
    let p = t.table + i * t.stride;
    let duration = defaultDuration;
    let flags = i === 0 && t.firstFlags !== null ? t.firstFlags : defaultFlags;
    let cto = 0;
    if (t.flags & TRUN_DURATION) {
      duration = trunBytes.readUInt32BE(p);
      p += 4;
    }
    if (t.flags & TRUN_SIZE) {
      sizes.push(trunBytes.readUInt32BE(p));
      p += 4;
    } else if (defaultSize !== null) {
      sizes.push(defaultSize);
    }
    if (t.flags & TRUN_FLAGS) {
      flags = trunBytes.readUInt32BE(p);
      p += 4;
    }
    if (t.flags & TRUN_CTO) cto = t.version === 0 ? trunBytes.readUInt32BE(p) : trunBytes.readInt32BE(p);
    durations.push(duration);
    compositionOffsets.push(cto);
    sync.push((flags & NON_SYNC) === 0);
  }
  let decode = 0;
  let earliest = Number.POSITIVE_INFINITY;
  for (let i = 0; i < t.sampleCount; i++) {
    earliest = Math.min(earliest, decode + (compositionOffsets[i] ?? 0));
    decode += durations[i] ?? 0;
  }
  return {
    sequenceNumber: payloadOf(mfhd).readUInt32BE(4),
    baseMediaDecodeTime,
    tfdtVersion,
    sampleCount: t.sampleCount,
    durations,
    compositionOffsets,
    sync,
    sizes: sizes.length === t.sampleCount ? sizes : null,
    dataOffset: t.dataOffsetAt === null ? null : trunBytes.readInt32BE(t.dataOffsetAt),
    baseDataOffset,
    duration: decode,
    earliestPresentation: baseMediaDecodeTime + BigInt(t.sampleCount > 0 ? earliest : 0),
  };
}

/** How to re-stamp one fragment. */
export interface Restamp {
  sequenceNumber: number;
  baseMediaDecodeTime: bigint;
  /**
   * Subtracted from every composition offset (the encoder's B-frame delay), so the first frame's
   * presentation time equals its decode time; offsets that go negative make the trun version 1.
   */
  compositionShift?: number;
}

/**
 * Re-stamps a moof+mdat fragment: mfhd sequence number, tfdt baseMediaDecodeTime (version 1 when it
 * no longer fits 32 bits) and, with a shift, the trun's composition offsets. When the moof changes
 * size, the trun data_offset (relative to the moof with default-base-is-moof) moves with it.
 */
export function restampFragment(fragment: Buffer, restamp: Restamp): Buffer {
  const { moofRef, moof, mfhd, tfhd, tfdt, trun } = openFragment(fragment);
  const tfhdFlags = payloadOf(tfhd).readUInt32BE(0) & 0xffffff;
  if (tfhdFlags & TFHD_BASE_DATA_OFFSET) {
    throw new Mp4FormatError(
      "tfhd has an explicit base_data_offset; only default-base-is-moof fragments can move",
    );
  }
  if (
    !Number.isInteger(restamp.sequenceNumber) ||
    restamp.sequenceNumber < 1 ||
    restamp.sequenceNumber > 0xffffffff
  ) {
    throw new Mp4FormatError(`mfhd sequence number out of range: ${restamp.sequenceNumber}`);
  }
  if (restamp.baseMediaDecodeTime < 0n || restamp.baseMediaDecodeTime >= 2n ** 64n) {
    throw new Mp4FormatError(`tfdt baseMediaDecodeTime out of range: ${restamp.baseMediaDecodeTime}`);
  }

  const mfhdBytes = Buffer.from(payloadOf(mfhd));
  mfhdBytes.writeUInt32BE(restamp.sequenceNumber, 4);
  mfhd.payload = mfhdBytes;

  const oldTfdt = payloadOf(tfdt);
  const wide = (oldTfdt[0] ?? 0) === 1 || restamp.baseMediaDecodeTime > 0xffffffffn;
  const tfdtBytes = Buffer.alloc(wide ? 12 : 8);
  tfdtBytes.writeUInt32BE((wide ? 1 : 0) << 24, 0);
  if (wide) tfdtBytes.writeBigUInt64BE(restamp.baseMediaDecodeTime, 4);
  else tfdtBytes.writeUInt32BE(Number(restamp.baseMediaDecodeTime), 4);
  tfdt.payload = tfdtBytes;

  const trunBytes = Buffer.from(payloadOf(trun));
  const t = readTrunFields(trunBytes);
  const shift = restamp.compositionShift ?? 0;
  if (shift !== 0) {
    if (!(t.flags & TRUN_CTO)) throw new Mp4FormatError("trun has no composition offsets to shift");
    const ctoAt = [TRUN_DURATION, TRUN_SIZE, TRUN_FLAGS].filter((f) => t.flags & f).length * 4;
    const offsets: number[] = [];
    for (let i = 0; i < t.sampleCount; i++) {
      const p = t.table + i * t.stride + ctoAt;
      offsets.push((t.version === 0 ? trunBytes.readUInt32BE(p) : trunBytes.readInt32BE(p)) - shift);
    }
    const signed = t.version === 1 || offsets.some((o) => o < 0);
    if (signed) trunBytes[0] = 1;
    offsets.forEach((o, i) => {
      const p = t.table + i * t.stride + ctoAt;
      if (signed) trunBytes.writeInt32BE(o, p);
      else trunBytes.writeUInt32BE(o, p);
    });
  }
  trun.payload = trunBytes;

  const oldMoofSize = moofRef.end - moofRef.start;
  let newMoof = writeBox(moof);
  const delta = newMoof.length - oldMoofSize;
  if (delta !== 0 && t.dataOffsetAt !== null) {
    trunBytes.writeInt32BE(trunBytes.readInt32BE(t.dataOffsetAt) + delta, t.dataOffsetAt);
    newMoof = writeBox(moof);
  }
  return Buffer.concat([newMoof, fragment.subarray(moofRef.end)]);
}
