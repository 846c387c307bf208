import { KEYFRAME_SECONDS } from "@streamlet/shared";
import type { PlannedRung } from "./ladder.ts";
import type { MediaFacts } from "./probe.ts";
import { formatRational, type Rational, toNumber } from "./rational.ts";

/** libx264 in "capped CRF" mode: the CPU path every machine can run. */
export type X264Spec = {
  kind: "x264";
  /** x264 speed preset, e.g. "veryfast". */
  preset: string;
  /** Constant rate factor; the rung's maxrate/bufsize cap it ("capped CRF"). */
  crf?: number;
};

/** NVENC presets, fastest (p1) to best quality (p7). */
export const NVENC_PRESETS = ["p1", "p2", "p3", "p4", "p5", "p6", "p7"] as const;
export type NvencPreset = (typeof NVENC_PRESETS)[number];

/** h264_nvenc with NVIDIA's VOD quality settings (MEDIA.md): decode, scale and encode on the GPU. */
export type NvencSpec = {
  kind: "nvenc";
  /** Defaults to DEFAULT_NVENC_PRESET. */
  preset?: NvencPreset;
  /** Frames of rate-control lookahead; defaults to DEFAULT_NVENC_LOOKAHEAD. */
  lookahead?: number;
  /**
   * Whether NVDEC may decode the source (default true). The start-up probe turns it off when a
   * CUDA decode fails but encoding works; sources NVDEC can't take are decoded on the CPU anyway.
   */
  hwDecode?: boolean;
  /** No CRF on NVENC (it is VBR); declared so code reading `spec.crf` off an EncoderSpec still compiles. */
  crf?: never;
};

/** Which video encoder to use, as plain data (config and job logs can carry it). */
export type EncoderSpec = X264Spec | NvencSpec;

/**
 * What the encoder needs to know about the source to pick a decode path. All optional so callers
 * that only know `hasAudio` still compile; the NVENC path then decodes on the CPU (the safe side).
 */
export type SourceFacts = Partial<Pick<MediaFacts, "rotation" | "videoCodec">> & {
  /** ffprobe's pix_fmt of the video stream, e.g. "yuv420p", "yuv420p10le", "yuv422p10le". */
  pixelFormat?: string;
};

/** The seam between the ladder command and a particular encoder. */
export interface Encoder {
  readonly spec: EncoderSpec;
  /** Options placed before `-i` (hardware decode). */
  inputArgs(source?: SourceFacts): string[];
  /** Chain applied once after the decoder, before the per-rung split: constant rate (and GPU upload). */
  headFilter(fps: Rational, source?: SourceFacts): string;
  /** Filter chain that scales one rung to width x height and hands the encoder its pixel format. */
  scaleFilter(width: number, height: number): string;
  /** Codec options for output video stream `index` (applied with `:v:index` specifiers). */
  videoArgs(rung: PlannedRung, index: number, fps: Rational): string[];
}

/** Default CRF for x264: visually clean at each rung's size, capped by its maxrate. */
export const DEFAULT_X264_CRF = 21;
/** MEDIA.md: NVIDIA's VOD recommendation is p4..p5; p5 ("slow, good quality") still runs many times realtime. */
export const DEFAULT_NVENC_PRESET: NvencPreset = "p5";
/** MEDIA.md: -rc-lookahead 20. */
export const DEFAULT_NVENC_LOOKAHEAD = 20;

/** Frames between IDRs: KEYFRAME_SECONDS worth of frames, so every rung cuts segments at the same times. */
export function keyframeInterval(fps: Rational): number {
  return Math.max(1, Math.round(KEYFRAME_SECONDS * toNumber(fps)));
}

/** Forces an IDR every KEYFRAME_SECONDS of output time, identically for every encoder. */
export const FORCE_KEY_FRAMES = `expr:gte(t,n_forced*${KEYFRAME_SECONDS})`;

function x264(spec: X264Spec): Encoder {
  const crf = spec.crf ?? DEFAULT_X264_CRF;
  return {
    spec,
    inputArgs: () => [],
    headFilter: (fps) => `fps=${formatRational(fps)}`,
    scaleFilter: (width, height) => `scale=${width}:${height},setsar=1,format=yuv420p`,
    videoArgs(rung, index, fps) {
      const s = `:v:${index}`;
      const gop = String(keyframeInterval(fps));
      return [
        `-c${s}`,
        "libx264",
        `-preset${s}`,
        spec.preset,
        `-profile${s}`,
        "high",
        `-crf${s}`,
        String(crf),
        `-maxrate${s}`,
        String(rung.maxBitrate),
        `-bufsize${s}`,
        String(rung.bufsize),
        `-g${s}`,
        gop,
        `-keyint_min${s}`,
        gop,
        `-sc_threshold${s}`,
        "0",
        `-force_key_frames${s}`,
        FORCE_KEY_FRAMES,
      ];
    },
  };
}

/**
 * Where the NVENC ladder decodes:
 * - "gpu": NVDEC decodes straight into CUDA frames (-hwaccel_output_format cuda); nothing crosses PCIe.
 * - "gpu-download": NVDEC decodes, frames come back to system memory so ffmpeg's autorotate
 *   (transpose, hflip/vflip on the CPU) can run, then hwupload_cuda sends them back. Debian's 5.1 has
 *   no transpose_cuda, and CUDA frames cannot go through the CPU transpose, so rotated sources need this.
 * - "cpu": software decode, format=nv12 on the CPU (10-bit and 4:2:2 become 8-bit 4:2:0, which
 *   H.264 High needs), then hwupload_cuda. For codecs and pixel formats NVDEC can't decode.
 * Scaling (scale_cuda) and encoding (h264_nvenc) are on the GPU in all three.
 */
export type NvencDecodePath = "gpu" | "gpu-download" | "cpu";

// Decoders every NVENC-era GPU has for 8-bit 4:2:0 (VP9 and AV1 NVDEC depend on the GPU generation).
const NVDEC_CODECS = new Set(["h264", "hevc"]);
// 8-bit 4:2:0 only: NVDEC would hand 10-bit as p010, which H.264 High can't take without a conversion.
const NVDEC_PIXEL_FORMATS = new Set(["yuv420p", "yuvj420p", "nv12"]);

/** Picks the NVENC ladder's decode path from the source; unknown facts choose the CPU (never a failed job). */
export function nvencDecodePath(source: SourceFacts | undefined, hwDecode = true): NvencDecodePath {
  const decodable =
    hwDecode &&
    NVDEC_CODECS.has(source?.videoCodec ?? "") &&
    NVDEC_PIXEL_FORMATS.has(source?.pixelFormat ?? "");
  if (!decodable) return "cpu";
  return (source?.rotation ?? 0) === 0 ? "gpu" : "gpu-download";
}

function nvenc(spec: NvencSpec): Encoder {
  const preset = spec.preset ?? DEFAULT_NVENC_PRESET;
  const lookahead = spec.lookahead ?? DEFAULT_NVENC_LOOKAHEAD;
  return {
    spec,
    inputArgs(source) {
      switch (nvencDecodePath(source, spec.hwDecode)) {
        case "gpu":
          return ["-hwaccel", "cuda", "-hwaccel_output_format", "cuda"];
        case "gpu-download":
          return ["-hwaccel", "cuda"];
        case "cpu":
          return [];
      }
    },
    headFilter(fps, source) {
      const rate = `fps=${formatRational(fps)}`;
      // fps only drops/duplicates frames, so it runs on CUDA frames as well as on system memory.
      return nvencDecodePath(source, spec.hwDecode) === "gpu" ? rate : `${rate},format=nv12,hwupload_cuda`;
    },
    // format=nv12: 8-bit 4:2:0 for H.264 High. setsar=1 (metadata only, fine on CUDA frames): rungs are
    // square-pixel sizes, but scale_cuda derives a SAR from the resize (854x480 came out 1280:1281, and a
    // rotated source 256:81 on an H100 with Debian's 5.1), which NVENC would write into the stream.
    scaleFilter: (width, height) => `scale_cuda=w=${width}:h=${height}:format=nv12,setsar=1`,
    videoArgs(rung, index, fps) {
      const s = `:v:${index}`;
      const gop = String(keyframeInterval(fps));
      // Never -level: NVENC picks it from size, rate and VBV, and a wrong one fails the encoder open.
      return [
        `-c${s}`,
        "h264_nvenc",
        `-preset${s}`,
        preset,
        `-tune${s}`,
        "hq",
        `-profile${s}`,
        "high",
        `-rc${s}`,
        "vbr",
        `-multipass${s}`,
        "qres",
        `-b${s}`,
        String(rung.videoBitrate),
        `-maxrate${s}`,
        String(rung.maxBitrate),
        `-bufsize${s}`,
        String(rung.bufsize),
        `-bf${s}`,
        "3",
        `-b_ref_mode${s}`,
        "middle",
        `-spatial-aq${s}`,
        "1",
        `-temporal-aq${s}`,
        "1",
        `-rc-lookahead${s}`,
        String(lookahead),
        `-g${s}`,
        gop,
        `-keyint_min${s}`,
        gop,
        // Lookahead would otherwise add I-frames at scene cuts, breaking the rungs' common GOP.
        `-no-scenecut${s}`,
        "1",
        `-forced-idr${s}`,
        "1",
        `-force_key_frames${s}`,
        FORCE_KEY_FRAMES,
      ];
    },
  };
}

/** Resolves an encoder spec to its argument builders; the only place that knows encoder flags. */
export function createEncoder(spec: EncoderSpec): Encoder {
  switch (spec.kind) {
    case "x264":
      return x264(spec);
    case "nvenc":
      return nvenc(spec);
  }
}
