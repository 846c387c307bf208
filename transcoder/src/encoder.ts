import { KEYFRAME_SECONDS } from "@streamlet/shared";
import type { PlannedRung } from "./ladder.ts";
import { type Rational, toNumber } from "./rational.ts";

/** Which video encoder to use, as plain data (config and job logs can carry it). */
export type EncoderSpec = {
  kind: "x264";
  /** x264 speed preset, e.g. "veryfast". */
  preset: string;
  /** Constant rate factor; the rung's maxrate/bufsize cap it ("capped CRF"). */
  crf?: number;
};

/**
 * The seam between the ladder command and a particular encoder. A GPU encoder (h264_nvenc) will
 * need input options (-hwaccel), its own scaler (scale_cuda) and its own rate-control flags.
 */
export interface Encoder {
  readonly spec: EncoderSpec;
  /** Options placed before `-i` (hardware decode). */
  inputArgs(): string[];
  /** Filter chain that scales one rung to width x height and hands the encoder its pixel format. */
  scaleFilter(width: number, height: number): string;
  /** Codec options for output video stream `index` (applied with `:v:index` specifiers). */
  videoArgs(rung: PlannedRung, index: number, fps: Rational): string[];
}

/** Default CRF for x264: visually clean at each rung's size, capped by its maxrate. */
export const DEFAULT_X264_CRF = 21;

/** Frames between IDRs: KEYFRAME_SECONDS worth of frames, so every rung cuts segments at the same times. */
export function keyframeInterval(fps: Rational): number {
  return Math.max(1, Math.round(KEYFRAME_SECONDS * toNumber(fps)));
}

function x264(spec: EncoderSpec): Encoder {
  const crf = spec.crf ?? DEFAULT_X264_CRF;
  return {
    spec,
    inputArgs: () => [],
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
        `expr:gte(t,n_forced*${KEYFRAME_SECONDS})`,
      ];
    },
  };
}

/** Resolves an encoder spec to its argument builders; the only place that knows encoder flags. */
export function createEncoder(spec: EncoderSpec): Encoder {
  switch (spec.kind) {
    case "x264":
      return x264(spec);
  }
}
