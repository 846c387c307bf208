/**
 * Smoke test for the GPU bundle (bench/gpu/pack.sh): proves the esbuild bundle runs under the
 * bundled node, that the transcoder's media core (its one ffmpeg runner) + zod work from it, and reports
 * what the bundled ffmpeg can do.
 *
 *   bash bench/gpu/pack.sh bench/gpu/smoke.ts
 *   bash .device/unpack.sh && source /tmp/sl/env.sh && node /tmp/sl/js/smoke.mjs
 *
 * Exit 0 when ffmpeg is usable; the NVENC line says whether a real 1-second h264_nvenc encode
 * worked (expected to fail with "Cannot load libcuda.so.1" on a machine without a GPU).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execTool, FfmpegError, ffmpegVersion, runFfmpeg } from "@streamlet/transcoder/media";
import { z } from "zod";

const Env = z.object({
  FFMPEG_PATH: z.string().min(1).default("ffmpeg"),
  FFPROBE_PATH: z.string().min(1).default("ffprobe"),
});
const env = Env.parse(process.env);
const ffmpegPath = env.FFMPEG_PATH;

console.log(`node ${process.version}`);
console.log(await ffmpegVersion(ffmpegPath));

/** Names in the second column of `ffmpeg -encoders` / `-filters` (after the flags). */
async function listed(kind: "-encoders" | "-filters"): Promise<Set<string>> {
  const { stdout } = await execTool(ffmpegPath, ["-hide_banner", kind], { timeoutMs: 30_000 });
  return new Set(stdout.split("\n").map((line) => line.trim().split(/\s+/)[1] ?? ""));
}
const encoders = await listed("-encoders");
const filters = await listed("-filters");
console.log(
  "encoders:",
  ["libx264", "h264_nvenc", "hevc_nvenc", "aac", "mjpeg"].map((e) => `${e}=${encoders.has(e)}`).join(" "),
);
console.log(
  "filters:",
  ["scale_cuda", "hwupload_cuda", "scale", "testsrc2"].map((f) => `${f}=${filters.has(f)}`).join(" "),
);

const dir = mkdtempSync(join(tmpdir(), "sl-smoke-"));
async function encode(label: string, args: string[]): Promise<void> {
  const t0 = performance.now();
  try {
    await runFfmpeg(["-hide_banner", "-nostdin", "-y", ...args], { ffmpegPath, stallTimeoutMs: 60_000 });
    console.log(`${label}: ok ${(performance.now() - t0).toFixed(0)} ms`);
  } catch (err) {
    const tail = err instanceof FfmpegError ? err.stderrTail.slice(-3).join(" | ") : String(err);
    console.log(`${label}: FAILED ${tail}`);
  }
}
const src = ["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-t", "1"];
await encode("libx264", [...src, "-c:v", "libx264", "-preset", "veryfast", join(dir, "x264.mp4")]);
await encode("h264_nvenc", [...src, "-c:v", "h264_nvenc", "-preset", "p4", join(dir, "nvenc.mp4")]);
await encode("nvdec+scale_cuda+nvenc", [
  "-hwaccel",
  "cuda",
  "-hwaccel_output_format",
  "cuda",
  "-i",
  join(dir, "x264.mp4"),
  "-vf",
  "scale_cuda=640:360",
  "-c:v",
  "h264_nvenc",
  join(dir, "cuda.mp4"),
]);
rmSync(dir, { recursive: true, force: true });
