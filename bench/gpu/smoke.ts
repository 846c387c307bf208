/**
 * Smoke test for the GPU bundle (bench/gpu/pack.sh): proves the esbuild bundle runs under the
 * bundled node, that fluent-ffmpeg + zod work from it, and reports what the bundled ffmpeg can do.
 *
 *   bash bench/gpu/pack.sh bench/gpu/smoke.ts
 *   bash .device/unpack.sh && source /tmp/sl/env.sh && node /tmp/sl/js/smoke.mjs
 *
 * Exit 0 when ffmpeg is usable; the NVENC line says whether a real 1-second h264_nvenc encode
 * worked (expected to fail with "Cannot load libcuda.so.1" on a machine without a GPU).
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import ffmpeg from "fluent-ffmpeg";
import { z } from "zod";

const run = promisify(execFile);

const Env = z.object({
  FFMPEG_PATH: z.string().min(1).default("ffmpeg"),
  FFPROBE_PATH: z.string().min(1).default("ffprobe"),
});
const env = Env.parse(process.env);
ffmpeg.setFfmpegPath(env.FFMPEG_PATH);
ffmpeg.setFfprobePath(env.FFPROBE_PATH);

const { stdout: version } = await run(env.FFMPEG_PATH, ["-hide_banner", "-version"]);
console.log(`node ${process.version}`);
console.log(version.split("\n")[0]);

const encoders = await new Promise<Record<string, unknown>>((resolve, reject) =>
  ffmpeg.getAvailableEncoders((err, enc) => (err ? reject(err) : resolve(enc))),
);
const filters = await new Promise<Record<string, unknown>>((resolve, reject) =>
  ffmpeg.getAvailableFilters((err, f) => (err ? reject(err) : resolve(f))),
);
console.log(
  "fluent-ffmpeg encoders:",
  ["libx264", "h264_nvenc", "hevc_nvenc", "aac", "mjpeg"].map((e) => `${e}=${e in encoders}`).join(" "),
);
console.log(
  "fluent-ffmpeg filters:",
  ["scale_cuda", "hwupload_cuda", "scale", "testsrc2"].map((f) => `${f}=${f in filters}`).join(" "),
);

const dir = mkdtempSync(join(tmpdir(), "sl-smoke-"));
async function encode(label: string, args: string[]): Promise<void> {
  const t0 = performance.now();
  try {
    await run(env.FFMPEG_PATH, ["-hide_banner", "-loglevel", "error", "-y", ...args]);
    console.log(`${label}: ok ${(performance.now() - t0).toFixed(0)} ms`);
  } catch (err) {
    const msg = String((err as { stderr?: string }).stderr ?? err)
      .trim()
      .split("\n")
      .slice(-3)
      .join(" | ");
    console.log(`${label}: FAILED ${msg}`);
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
