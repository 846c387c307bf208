import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEncoder, type NvencSpec } from "./encoder.ts";
import type { PlannedRung } from "./ladder.ts";
import { execTool } from "./run-ffmpeg.ts";

/** Why NVENC can't be used here; each kind has one thing the operator should do (NVENC_HINTS). */
export type NvencFailureKind =
  | "ffmpeg_without_nvenc"
  | "no_driver"
  | "no_video_capability"
  | "driver_too_old"
  | "no_device"
  | "session_limit"
  | "no_nvenc"
  | "unsupported_feature"
  | "unknown";

export interface NvencFailure {
  kind: NvencFailureKind;
  /** The ffmpeg line that identified it (or a summary when none did). */
  message: string;
  /** One actionable line for the operator. */
  hint: string;
}

/** One log line per failure kind: what to change so the next start gets NVENC. */
export const NVENC_HINTS: Record<NvencFailureKind, string> = {
  ffmpeg_without_nvenc:
    "this ffmpeg has no h264_nvenc: install an ffmpeg built with NVENC (Debian's is) or set ENCODER=x264",
  no_driver:
    "no NVIDIA driver in this container (libcuda.so.1 missing): start it with the NVIDIA container runtime (docker --gpus all / compose device reservation) or set ENCODER=x264",
  no_video_capability:
    "the container has CUDA but not the encode library (libnvidia-encode.so.1): set NVIDIA_DRIVER_CAPABILITIES=compute,utility,video (or all) on the container",
  driver_too_old:
    "the host NVIDIA driver is older than the NVENC API this ffmpeg needs: upgrade the host driver or set ENCODER=x264",
  no_device:
    "CUDA sees no usable GPU: check `nvidia-smi` inside the container and NVIDIA_VISIBLE_DEVICES; if it worked before, restart the container (a host `systemctl daemon-reload` can revoke GPU access)",
  session_limit:
    "the driver refused another NVENC session (consumer cards cap concurrent encodes): lower NVENC_SESSION_LIMIT or stop other NVENC users of this GPU",
  no_nvenc:
    "this GPU has no NVENC encoder (H100, H200 and A100 only decode): run on a T4, A10, L4, L40S or RTX card, or set ENCODER=x264",
  unsupported_feature:
    "this GPU's NVENC lacks a setting the ladder uses (temporal AQ and B-frame references need Turing or newer): use a newer GPU or set ENCODER=x264",
  unknown: "NVENC failed for a reason not recognised: read the ffmpeg lines above, or set ENCODER=x264",
};

// First match wins. Order matters where ffmpeg prints several lines for one cause:
// - "Cannot load libnvidia-encode.so.1" is followed by "The minimum required Nvidia driver ... or newer";
// - "OpenEncodeSessionEx failed: out of memory (10)" is followed by "No NVENC capable devices found".
const RULES: [NvencFailureKind, RegExp][] = [
  [
    "ffmpeg_without_nvenc",
    /Unknown encoder '(?:h264|hevc|av1)_nvenc'|Encoder \(?(?:h264|hevc)_nvenc\)? not found/,
  ],
  ["no_video_capability", /Cannot load libnvidia-encode\.so/],
  ["no_driver", /Cannot load libcuda\.so|Could not dynamically load CUDA/],
  ["driver_too_old", /Driver does not support the required nvenc API version|minimum required Nvidia driver/],
  ["no_device", /cuInit\(0\) failed|CUDA_ERROR_NO_DEVICE|no CUDA-capable device is detected/],
  [
    "session_limit",
    /OpenEncodeSessionEx failed: (?:out of memory \(10\)|incompatible client key \(21\))|nvEncOpenEncodeSessionEx.*returned error 10\b/,
  ],
  [
    "no_nvenc",
    /OpenEncodeSessionEx failed: (?:unsupported device \(2\)|no encode device \(1\))|No (?:NVENC )?capable devices found/,
  ],
  ["unsupported_feature", /doesn't support required NVENC features|_nvenc @ [^\]]*\] .*not supported/],
];

/** Names the NVENC failure in ffmpeg's stderr so the log says what to fix, not just "exit code 1". */
export function classifyNvencFailure(stderr: string): NvencFailure {
  const lines = stderr.split(/\r?\n/);
  for (const [kind, pattern] of RULES) {
    const line = lines.find((l) => pattern.test(l));
    if (line !== undefined) return { kind, message: line.trim(), hint: NVENC_HINTS[kind] };
  }
  const last = lines.map((l) => l.trim()).filter((l) => l.length > 0);
  const message = last.find((l) => /error|fail/i.test(l)) ?? last.at(-1) ?? "no output";
  return { kind: "unknown", message, hint: NVENC_HINTS.unknown };
}

/** What to do with a job whose NVENC encode failed. */
export interface FallBackDecision {
  failure: NvencFailure;
  /**
   * True when the machine itself changed (driver gone, GPU lost): re-probe before the next job.
   * False for session_limit: NVENC is fine, only busy; retry this job on x264 and keep NVENC.
   */
  reprobe: boolean;
}

/**
 * Decides whether a failed NVENC job should be retried on x264 rather than failed: an NVENC/CUDA
 * failure is the machine's fault, not the video's. Null when stderr shows no NVENC failure (bad media,
 * disk full...), which must take the normal error path.
 */
export function shouldFallBack(stderrTail: string | readonly string[]): FallBackDecision | null {
  const text = typeof stderrTail === "string" ? stderrTail : stderrTail.join("\n");
  const failure = classifyNvencFailure(text);
  if (failure.kind === "unknown") return null;
  return { failure, reprobe: failure.kind !== "session_limit" };
}

/** The encoder a process runs with, decided once at start-up. */
export type EncoderWant = "auto" | "nvenc" | "x264";

export interface EncoderProbeResult {
  encoder: "nvenc" | "x264";
  nvenc: {
    /** True when the 1-second NVENC encode succeeded. */
    ok: boolean;
    /** False when ENCODER=x264 skipped the probe. */
    probed: boolean;
    failure?: NvencFailure;
    /** When ok: false if NVDEC decode failed (the ladder then decodes on the CPU). */
    hwDecode?: boolean;
  };
  /** The NVENC spec to run with (hwDecode set from the probe); present when encoder is "nvenc". */
  nvencSpec?: NvencSpec;
  /** One start-up log line saying which encoder runs and why. */
  line: string;
}

/** ENCODER=nvenc on a machine where NVENC doesn't work: the caller must refuse to start. */
export class NvencUnavailableError extends Error {
  override name = "NvencUnavailableError";
  readonly failure: NvencFailure;

  constructor(failure: NvencFailure) {
    super(
      `ENCODER=nvenc but NVENC does not work here (${failure.kind}: ${failure.message}); ${failure.hint}`,
    );
    this.failure = failure;
  }
}

/** Runs ffmpeg; resolves with the exit code (null when killed) and stderr, rejects only if it can't start. */
export type ExecFfmpeg = (
  ffmpegPath: string,
  args: string[],
  options: { timeoutMs: number; signal?: AbortSignal },
) => Promise<{ code: number | null; stderr: string }>;

/** The real thing: ffmpeg through the one runner (a run past timeoutMs is killed and gives code null). */
const execFfmpeg: ExecFfmpeg = async (ffmpegPath, args, { timeoutMs, signal }) => {
  const run = await execTool(ffmpegPath, args, { timeoutMs, signal, maxBufferBytes: 4 * 1024 * 1024 });
  return { code: run.code, stderr: run.stderr };
};

const PROBE_RUNG: PlannedRung = {
  name: "probe",
  width: 640,
  height: 360,
  videoBitrate: 800_000,
  maxBitrate: 1_200_000,
  bufsize: 2_400_000,
};
const PROBE_FPS = { num: 30, den: 1 };

/**
 * A 1-second 720p test pattern uploaded, scaled with scale_cuda and encoded with the ladder's own
 * h264_nvenc options (so a GPU lacking temporal AQ or B-frame references fails here, not per job).
 */
export function nvencProbeArgs(spec: NvencSpec): string[] {
  const enc = createEncoder(spec);
  return [
    "-hide_banner",
    "-nostdin",
    "-loglevel",
    "warning",
    "-f",
    "lavfi",
    "-i",
    "testsrc2=size=1280x720:rate=30",
    "-t",
    "1",
    "-vf",
    `format=nv12,hwupload_cuda,${enc.scaleFilter(PROBE_RUNG.width, PROBE_RUNG.height)}`,
    ...enc.videoArgs(PROBE_RUNG, 0, PROBE_FPS),
    "-f",
    "null",
    "-",
  ];
}

/** A 1-second H.264 sample for the NVDEC check (encoded on the CPU). */
export function decodeSampleArgs(path: string): string[] {
  return [
    "-hide_banner",
    "-nostdin",
    "-loglevel",
    "error",
    "-y",
    "-f",
    "lavfi",
    "-i",
    "testsrc2=size=640x360:rate=30",
    "-t",
    "1",
    "-c:v",
    "libx264",
    "-preset",
    "ultrafast",
    "-pix_fmt",
    "yuv420p",
    path,
  ];
}

/** NVDEC decode into CUDA frames, scale_cuda, h264_nvenc: the ladder's full-GPU path. */
export function nvdecProbeArgs(samplePath: string): string[] {
  return [
    "-hide_banner",
    "-nostdin",
    "-loglevel",
    "warning",
    "-hwaccel",
    "cuda",
    "-hwaccel_output_format",
    "cuda",
    "-i",
    samplePath,
    "-vf",
    "scale_cuda=w=320:h=180:format=nv12",
    "-c:v",
    "h264_nvenc",
    "-f",
    "null",
    "-",
  ];
}

export interface ProbeEncoderOptions {
  ffmpegPath: string;
  want: EncoderWant;
  /** Per ffmpeg run; default 20 s (the first CUDA init on a cold GPU can take several seconds). */
  timeoutMs?: number;
  /** The NVENC settings the ladder will use; the probe encodes with them. */
  nvenc?: NvencSpec;
  signal?: AbortSignal;
  /** For tests; defaults to running the real ffmpeg. */
  exec?: ExecFfmpeg;
}

async function nvdecWorks(options: ProbeEncoderOptions, exec: ExecFfmpeg, timeoutMs: number) {
  const dir = await mkdtemp(join(tmpdir(), "streamlet-nvdec-"));
  try {
    const sample = join(dir, "sample.mp4");
    const made = await exec(options.ffmpegPath, decodeSampleArgs(sample), {
      timeoutMs,
      signal: options.signal,
    });
    // Without libx264 there is nothing to test NVDEC with; decoding on the CPU is the safe answer.
    if (made.code !== 0) return false;
    const run = await exec(options.ffmpegPath, nvdecProbeArgs(sample), { timeoutMs, signal: options.signal });
    return run.code === 0;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Decides the encoder at start-up by really encoding (listing h264_nvenc in `ffmpeg -encoders`
 * proves nothing: Debian's ffmpeg lists it on machines with no GPU).
 * - want "x264": no probe; x264.
 * - want "auto": NVENC when the probe encodes, else x264, and `line` says why (with the hint).
 * - want "nvenc": NVENC when the probe encodes, else THROWS NvencUnavailableError. It never falls back
 *   silently: an operator who asked for the GPU gets a failed start with the reason and the fix,
 *   instead of a fleet quietly running 10x slower on the CPU. The caller logs err.message and exits 1.
 */
export async function probeEncoder(options: ProbeEncoderOptions): Promise<EncoderProbeResult> {
  if (options.want === "x264") {
    return {
      encoder: "x264",
      nvenc: { ok: false, probed: false },
      line: "encoder: libx264 (ENCODER=x264; NVENC not probed)",
    };
  }
  const exec = options.exec ?? execFfmpeg;
  const timeoutMs = options.timeoutMs ?? 20_000;
  const spec: NvencSpec = options.nvenc ?? { kind: "nvenc" };
  const run = await exec(options.ffmpegPath, nvencProbeArgs(spec), { timeoutMs, signal: options.signal });
  if (run.code !== 0) {
    const failure =
      run.code === null
        ? {
            kind: "unknown" as const,
            message: `the NVENC probe did not finish within ${timeoutMs} ms`,
            hint: NVENC_HINTS.unknown,
          }
        : classifyNvencFailure(run.stderr);
    if (options.want === "nvenc") throw new NvencUnavailableError(failure);
    return {
      encoder: "x264",
      nvenc: { ok: false, probed: true, failure },
      line: `encoder: libx264 (ENCODER=auto; NVENC unavailable, ${failure.kind}: ${failure.message}) - ${failure.hint}`,
    };
  }
  const hwDecode = spec.hwDecode !== false && (await nvdecWorks(options, exec, timeoutMs));
  return {
    encoder: "nvenc",
    nvenc: { ok: true, probed: true, hwDecode },
    nvencSpec: { ...spec, hwDecode },
    line: hwDecode
      ? `encoder: h264_nvenc (ENCODER=${options.want}; probe encoded on the GPU, NVDEC decode works)`
      : `encoder: h264_nvenc (ENCODER=${options.want}; probe encoded on the GPU; NVDEC decode failed, sources are decoded on the CPU)`,
  };
}
