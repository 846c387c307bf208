import { Mp4FormatError, parseBox, readBoxes } from "../chunks/fmp4.ts";

/**
 * H.264 as the published tracks carry it: the init's avcC (parameter sets, NAL length size), the SPS's
 * profile, level and cropped size, and whether a sample's access unit holds IDR slices. Read by the
 * checks before publishing (verify.ts) and the I-frame playlists' tests.
 */

export const hex2 = (n: number) => n.toString(16).padStart(2, "0");

/** What the init's avc1/avc3 sample entry and its avcC say. */
export interface AvcConfig {
  sampleEntry: string;
  /** Sample entry width/height. */
  width: number;
  height: number;
  /** avcC header bytes: profile_idc, constraint flags, level_idc. */
  profile: number;
  constraints: number;
  level: number;
  /** Bytes of each NAL unit's length prefix in the samples. */
  lengthSize: number;
  sps: Buffer[];
}

/** The AVCDecoderConfigurationRecord of a video init (ISO/IEC 14496-15 5.3.3). */
export function readAvcConfig(init: Buffer): AvcConfig {
  const moovRef = readBoxes(init).find((b) => b.type === "moov");
  if (!moovRef) throw new Mp4FormatError("init has no moov");
  const moov = parseBox(init, moovRef);
  const path = ["trak", "mdia", "minf", "stbl", "stsd"];
  let node = moov;
  for (const type of path) {
    const next = node.children?.find((c) => c.type === type);
    if (!next) throw new Mp4FormatError(`init has no ${type}`);
    node = next;
  }
  const stsd = node.payload as Buffer;
  const [entry] = readBoxes(stsd, 8);
  if (!entry || (entry.type !== "avc1" && entry.type !== "avc3")) {
    throw new Mp4FormatError(`init's sample entry is ${entry?.type ?? "missing"}, not avc1/avc3`);
  }
  // Visual sample entries hold 78 bytes of fields before their child boxes (ISO/IEC 14496-12 12.1.3).
  const avcCRef = readBoxes(stsd, entry.payload + 78, entry.end).find((b) => b.type === "avcC");
  if (!avcCRef) throw new Mp4FormatError(`${entry.type} has no avcC`);
  const c = stsd.subarray(avcCRef.payload, avcCRef.end);
  if (c.length < 7 || c[0] !== 1) throw new Mp4FormatError("avcC is not an AVCDecoderConfigurationRecord");
  const sps: Buffer[] = [];
  let at = 6;
  for (let n = (c[5] as number) & 0x1f; n > 0; n--) {
    const size = c.readUInt16BE(at);
    sps.push(c.subarray(at + 2, at + 2 + size));
    at += 2 + size;
  }
  if (at > c.length || sps.length === 0) throw new Mp4FormatError("avcC has no complete SPS");
  return {
    sampleEntry: entry.type,
    width: stsd.readUInt16BE(entry.payload + 24),
    height: stsd.readUInt16BE(entry.payload + 26),
    profile: c[1] as number,
    constraints: c[2] as number,
    level: c[3] as number,
    lengthSize: ((c[4] as number) & 3) + 1,
    sps,
  };
}

/** What an SPS says (ITU-T H.264 7.3.2.1.1): the codec string's bytes and the cropped picture size. */
export interface SpsInfo {
  profile: number;
  constraints: number;
  level: number;
  width: number;
  height: number;
}

/** An SPS NAL unit's RBSP: emulation prevention bytes (00 00 03) removed. */
function rbspOf(nal: Buffer): Buffer {
  const out: number[] = [];
  for (let i = 0; i < nal.length; i++) {
    if (i >= 2 && nal[i] === 3 && nal[i - 1] === 0 && nal[i - 2] === 0) continue;
    out.push(nal[i] as number);
  }
  return Buffer.from(out);
}

/** Exp-Golomb bit reader over an RBSP. */
function bitReader(buf: Buffer) {
  let bit = 0;
  const u = (n: number): number => {
    let v = 0;
    for (let i = 0; i < n; i++, bit++) {
      if (bit >= buf.length * 8) throw new Mp4FormatError("SPS ends early");
      v = v * 2 + (((buf[bit >> 3] as number) >> (7 - (bit & 7))) & 1);
    }
    return v;
  };
  const ue = (): number => {
    let zeros = 0;
    while (u(1) === 0) if (++zeros > 31) throw new Mp4FormatError("bad Exp-Golomb code in SPS");
    return 2 ** zeros - 1 + u(zeros);
  };
  const se = (): number => {
    const k = ue();
    return k % 2 === 1 ? (k + 1) / 2 : -k / 2;
  };
  return { u, ue, se };
}

const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

/** Parses an SPS NAL unit (with its one-byte header). */
export function parseSps(nal: Buffer): SpsInfo {
  if (((nal[0] ?? 0) & 0x1f) !== 7) throw new Mp4FormatError("not an SPS NAL unit");
  const r = bitReader(rbspOf(nal.subarray(1)));
  const profile = r.u(8);
  const constraints = r.u(8);
  const level = r.u(8);
  r.ue(); // seq_parameter_set_id
  let chroma = 1;
  let separatePlanes = 0;
  if (HIGH_PROFILES.has(profile)) {
    chroma = r.ue();
    if (chroma === 3) separatePlanes = r.u(1);
    r.ue(); // bit_depth_luma_minus8
    r.ue(); // bit_depth_chroma_minus8
    r.u(1); // qpprime_y_zero_transform_bypass_flag
    if (r.u(1)) {
      for (let i = 0; i < (chroma === 3 ? 12 : 8); i++) {
        if (!r.u(1)) continue;
        let last = 8;
        let next = 8;
        for (let j = 0; j < (i < 6 ? 16 : 64); j++) {
          if (next !== 0) next = (last + r.se() + 256) % 256;
          last = next === 0 ? last : next;
        }
      }
    }
  }
  r.ue(); // log2_max_frame_num_minus4
  const pocType = r.ue();
  if (pocType === 0) r.ue();
  else if (pocType === 1) {
    r.u(1);
    r.se();
    r.se();
    for (let n = r.ue(); n > 0; n--) r.se();
  }
  r.ue(); // max_num_ref_frames
  r.u(1); // gaps_in_frame_num_value_allowed_flag
  const widthMbs = r.ue() + 1;
  const heightMapUnits = r.ue() + 1;
  const frameMbsOnly = r.u(1);
  if (!frameMbsOnly) r.u(1);
  r.u(1); // direct_8x8_inference_flag
  let [left, right, top, bottom] = [0, 0, 0, 0];
  if (r.u(1)) [left, right, top, bottom] = [r.ue(), r.ue(), r.ue(), r.ue()];
  const mono = chroma === 0 || separatePlanes === 1;
  const cropX = mono ? 1 : chroma === 3 ? 1 : 2;
  const cropY = (mono ? 1 : chroma === 1 ? 2 : 1) * (2 - frameMbsOnly);
  return {
    profile,
    constraints,
    level,
    width: widthMbs * 16 - cropX * (left + right),
    height: (2 - frameMbsOnly) * heightMapUnits * 16 - cropY * (top + bottom),
  };
}

/** RFC 6381 codec string of an SPS, for a sample entry type. */
export function spsCodecString(sps: SpsInfo, sampleEntry = "avc1"): string {
  return `${sampleEntry}.${hex2(sps.profile)}${hex2(sps.constraints)}${hex2(sps.level)}`;
}

/** profile_idc of ffprobe's profile names. */
export const PROFILE_IDC: Record<string, number> = {
  Baseline: 66,
  "Constrained Baseline": 66,
  Main: 77,
  Extended: 88,
  High: 100,
  "High 10": 110,
  "High 10 Intra": 110,
  "High 4:2:2": 122,
  "High 4:2:2 Intra": 122,
  "High 4:4:4": 144,
  "High 4:4:4 Predictive": 244,
  "High 4:4:4 Intra": 244,
  "CAVLC 4:4:4": 44,
};

/**
 * What the first access unit holds: "idr" when its VCL NAL units are all IDR slices (type 5),
 * "non-idr" when any is another slice, "malformed" when the length prefixes do not tile the sample.
 */
export function accessUnitKind(sample: Buffer, lengthSize: number): "idr" | "non-idr" | "malformed" {
  let at = 0;
  let idr = false;
  while (at < sample.length) {
    if (at + lengthSize > sample.length) return "malformed";
    const size = sample.readUIntBE(at, lengthSize);
    at += lengthSize;
    if (size === 0 || at + size > sample.length) return "malformed";
    const header = sample[at] as number;
    if (header & 0x80) return "malformed";
    const type = header & 0x1f;
    if (type >= 1 && type <= 4) return "non-idr";
    if (type === 5) idr = true;
    at += size;
  }
  return idr ? "idr" : "non-idr";
}
