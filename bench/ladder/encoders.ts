/**
 * Realtime factor of the whole ladder (1080p/720p/480p + audio, one ffmpeg, exactly what a job runs)
 * per encoder available on this machine: libx264 always, h264_nvenc when the transcoder's own start-up
 * probe (a real one-second encode) says NVENC works. Both are measured in the same run, interleaved,
 * best of BENCH_REPEAT; the ratio is against libx264.
 * Run: npm run bench:encoders
 * Knobs: BENCH_SECONDS (20), BENCH_REPEAT (2), BENCH_SOURCE (an existing file instead of generating one,
 * e.g. on a GPU box whose minimal ffmpeg lacks the generator's filters), X264_PRESET (veryfast),
 * FFMPEG_PATH / FFPROBE_PATH.
 */
import { mkdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  buildLadderArgs,
  type EncoderSpec,
  planLadder,
  probeEncoder,
  probeFile,
  runFfmpeg,
} from "@streamlet/transcoder/media";
import { generateSource } from "./source.ts";

const OUT = join(dirname(fileURLToPath(import.meta.url)), "out", "encoders");
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const REPEAT = Math.max(1, Number(process.env.BENCH_REPEAT ?? 2));
const ffmpegPath = process.env.FFMPEG_PATH ?? "ffmpeg";
const ffprobePath = process.env.FFPROBE_PATH ?? "ffprobe";

async function main(): Promise<void> {
  await rm(OUT, { recursive: true, force: true });
  await mkdir(OUT, { recursive: true });
  let source = process.env.BENCH_SOURCE;
  if (!source) {
    source = join(OUT, "source.mp4");
    console.log(`generating a ${SECONDS} s 1080p30 source with grain and motion…`);
    await generateSource(source, SECONDS, ffmpegPath);
  }
  const facts = await probeFile(source, { ffprobePath, ffmpegPath });
  const { rungs, fps } = planLadder(facts);
  console.log(
    `source: ${facts.width}x${facts.height} ${facts.fps.toFixed(2)} fps ${facts.videoCodec}/${facts.pixelFormat}, ` +
      `${facts.durationSeconds.toFixed(1)} s; ladder ${rungs.map((r) => r.name).join(" + ")} + audio; ` +
      `${os.cpus().length} CPU cores`,
  );

  // The transcoder's own start-up decision, on this machine.
  const probe = await probeEncoder({ ffmpegPath, want: "auto" });
  console.log(probe.line);
  const encoders: { name: string; spec: EncoderSpec }[] = [
    {
      name: `libx264 ${process.env.X264_PRESET ?? "veryfast"}`,
      spec: { kind: "x264", preset: process.env.X264_PRESET ?? "veryfast" },
    },
  ];
  if (probe.nvencSpec) {
    const decode = probe.nvencSpec.hwDecode ? "NVDEC decode" : "CPU decode";
    encoders.push({
      name: `h264_nvenc ${probe.nvencSpec.preset ?? "p5"} (${decode})`,
      spec: probe.nvencSpec,
    });
  }

  const best = new Map<string, number>();
  for (let round = 1; round <= REPEAT; round++) {
    for (const { name, spec } of encoders) {
      const outDir = join(OUT, spec.kind);
      await rm(outDir, { recursive: true, force: true });
      await mkdir(outDir, { recursive: true });
      const args = buildLadderArgs({ input: source, outDir, facts, rungs, fps, encoder: spec });
      const started = performance.now();
      await runFfmpeg(args, { ffmpegPath });
      const wall = (performance.now() - started) / 1000;
      console.log(`round ${round}/${REPEAT}: ${name}: ${wall.toFixed(2)} s`);
      best.set(name, Math.min(best.get(name) ?? Number.POSITIVE_INFINITY, wall));
    }
  }

  const baseline = best.get(encoders[0]?.name ?? "") ?? Number.NaN;
  const rows = encoders.map(({ name, spec }) => {
    const wall = best.get(name) ?? Number.NaN;
    return {
      encoder: name,
      kind: spec.kind,
      wallSeconds: Number(wall.toFixed(2)),
      realtimeFactor: Number((facts.durationSeconds / wall).toFixed(2)),
      speedupVsX264: Number((baseline / wall).toFixed(2)),
    };
  });
  console.log("\n| encoder | wall (best) | realtime factor | vs libx264 |\n|---|---|---|---|");
  for (const r of rows) {
    console.log(`| ${r.encoder} | ${r.wallSeconds} s | ${r.realtimeFactor}× | ${r.speedupVsX264}× |`);
  }
  if (!probe.nvencSpec)
    console.log(`\nNVENC not measured here: ${probe.nvenc.failure?.kind ?? "not probed"}`);
  await writeFile(
    join(OUT, "results.json"),
    `${JSON.stringify({ source: { ...facts, file: source }, probe, rows, cpus: os.cpus().length }, null, 2)}\n`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
