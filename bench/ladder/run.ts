/**
 * Ladder benchmark: one ffmpeg process for the whole ladder (decode once, audio once) against one
 * process per rung (decode N times, audio N times), with the same x264 settings per rung.
 * Run: npx tsx bench/ladder/run.ts
 * Knobs: X264_PRESET (veryfast), BENCH_SECONDS (20), BENCH_REPEAT (2 interleaved rounds; best wall time kept).
 */
import { mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { AUDIO_FOLDER, INIT_SEGMENT, SEGMENT_FILE } from "@streamlet/shared";
import {
  buildLadderArgs,
  DEFAULT_X264_CRF,
  type EncoderSpec,
  ffmpegVersion,
  formatRational,
  type MediaFacts,
  measureVariant,
  normalizeInitSegment,
  type PlannedRung,
  planLadder,
  probeFile,
  type Rational,
  runFfmpeg,
} from "@streamlet/transcoder/media";
import { generateSource } from "./source.ts";

const OUT = join(dirname(fileURLToPath(import.meta.url)), "out");
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const REPEAT = Math.max(1, Number(process.env.BENCH_REPEAT ?? 2));
const encoder: EncoderSpec = { kind: "x264", preset: process.env.X264_PRESET ?? "veryfast" };

async function timed(fn: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await fn();
  return (performance.now() - started) / 1000;
}

/** Joins a variant's init + segments into one file ffmpeg can read back. */
async function joinVariant(dir: string, target: string): Promise<void> {
  const segments = (await readdir(dir)).filter((f) => SEGMENT_FILE.test(f)).sort();
  const parts = await Promise.all([INIT_SEGMENT, ...segments].map((f) => readFile(join(dir, f))));
  await writeFile(target, Buffer.concat(parts));
}

/** Mean SSIM (All) of a rung against the source scaled to the rung's size. */
async function ssim(
  rungFile: string,
  source: string,
  rung: PlannedRung,
  fps: Rational,
  statsFile: string,
): Promise<number> {
  await runFfmpeg([
    ...["-hide_banner", "-nostdin", "-i", rungFile, "-i", source],
    "-lavfi",
    `[1:v]setpts=PTS-STARTPTS,fps=${formatRational(fps)},scale=${rung.width}:${rung.height}:flags=bicubic,setsar=1,format=yuv420p[ref];` +
      `[0:v]setpts=PTS-STARTPTS,setsar=1,format=yuv420p[enc];[enc][ref]ssim=stats_file=${statsFile}`,
    ...["-an", "-f", "null", "-"],
  ]);
  const values = (await readFile(statsFile, "utf8"))
    .split("\n")
    .map((line) => /All:([\d.]+)/.exec(line)?.[1])
    .filter((v): v is string => v !== undefined)
    .map(Number);
  return values.reduce((a, b) => a + b, 0) / values.length;
}

interface RungResult {
  name: string;
  width: number;
  height: number;
  averageKbps: number;
  peakKbps: number;
  ssim: number;
  segments: number;
}

async function measureMethod(
  label: string,
  variantDir: (rung: PlannedRung) => string,
  rungs: PlannedRung[],
  source: string,
  fps: Rational,
): Promise<RungResult[]> {
  const results: RungResult[] = [];
  for (const rung of rungs) {
    const dir = variantDir(rung);
    await normalizeInitSegment(dir);
    const { stats } = await measureVariant(dir);
    const joined = join(OUT, `${label}-${rung.name}.mp4`);
    await joinVariant(dir, joined);
    const value = await ssim(joined, source, rung, fps, join(OUT, `${label}-${rung.name}.ssim.log`));
    await rm(joined);
    results.push({
      name: rung.name,
      width: rung.width,
      height: rung.height,
      averageKbps: Math.round(stats.averageBitrate / 1000),
      peakKbps: Math.round(stats.peakBitrate / 1000),
      ssim: value,
      segments: stats.segmentCount,
    });
  }
  return results;
}

function pad(value: string | number, width: number): string {
  return String(value).padStart(width);
}

async function main(): Promise<void> {
  await rm(OUT, { recursive: true, force: true });
  await mkdir(OUT, { recursive: true });
  const source = join(OUT, "source.mp4");

  console.log(`generating a ${SECONDS} s 1080p30 source with grain and motion…`);
  const generateSeconds = await generateSource(source, SECONDS);
  const facts: MediaFacts = await probeFile(source, { ffprobePath: "ffprobe", ffmpegPath: "ffmpeg" });
  const sourceBitrate = ((await stat(source)).size * 8) / facts.durationSeconds;
  const plan = planLadder(facts);
  const { rungs, fps } = plan;
  console.log(
    `source: ${facts.width}x${facts.height} ${facts.fps} fps, ${facts.durationSeconds.toFixed(1)} s, ` +
      `${(sourceBitrate / 1e6).toFixed(2)} Mb/s (generated in ${generateSeconds.toFixed(1)} s)`,
  );

  // Interleave the methods and keep each one's best wall time: this VM's speed drifts by tens of percent.
  const onePassDir = join(OUT, "one-pass");
  const onePassSamples: number[] = [];
  const perRunSamples: Record<string, number[]> = Object.fromEntries(rungs.map((r) => [r.name, []]));
  for (let round = 1; round <= REPEAT; round++) {
    console.log(
      `round ${round}/${REPEAT}: one pass (${rungs.map((r) => r.name).join(" + ")} + audio in one ffmpeg)…`,
    );
    await rm(onePassDir, { recursive: true, force: true });
    onePassSamples.push(
      await timed(() =>
        runFfmpeg(buildLadderArgs({ input: source, outDir: onePassDir, facts, rungs, fps, encoder })),
      ),
    );
    console.log(
      `round ${round}/${REPEAT}: three runs (one ffmpeg per rung, each decoding and encoding audio again)…`,
    );
    for (const rung of rungs) {
      const outDir = join(OUT, "separate", rung.name);
      await rm(outDir, { recursive: true, force: true });
      perRunSamples[rung.name]?.push(
        await timed(() =>
          runFfmpeg(buildLadderArgs({ input: source, outDir, facts, rungs: [rung], fps, encoder })),
        ),
      );
    }
  }
  const onePassSeconds = Math.min(...onePassSamples);
  const separateSamples = onePassSamples.map((_, i) =>
    rungs.reduce((sum, r) => sum + (perRunSamples[r.name]?.[i] ?? 0), 0),
  );
  const separateSeconds = Math.min(...separateSamples);
  const best = separateSamples.indexOf(separateSeconds);
  const perRunSeconds = Object.fromEntries(rungs.map((r) => [r.name, perRunSamples[r.name]?.[best] ?? 0]));

  console.log("measuring bitrates and SSIM against the scaled source…");
  const onePass = await measureMethod("one-pass", (r) => join(onePassDir, r.name), rungs, source, fps);
  const separate = await measureMethod(
    "separate",
    (r) => join(OUT, "separate", r.name, r.name),
    rungs,
    source,
    fps,
  );
  await normalizeInitSegment(join(onePassDir, AUDIO_FOLDER));

  const ratio = separateSeconds / onePassSeconds;
  const results = {
    date: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? "unknown",
      platform: `${os.platform()} ${os.release()}`,
    },
    ffmpeg: await ffmpegVersion(),
    encoder: { ...encoder, crf: encoder.crf ?? DEFAULT_X264_CRF },
    source: {
      width: facts.width,
      height: facts.height,
      fps: facts.fps,
      durationSeconds: facts.durationSeconds,
      bitrateKbps: Math.round(sourceBitrate / 1000),
      generateSeconds,
    },
    repeat: REPEAT,
    onePass: {
      wallSeconds: onePassSeconds,
      wallSamples: onePassSamples,
      realtimeFactor: facts.durationSeconds / onePassSeconds,
      rungs: onePass,
    },
    separateRuns: {
      wallSeconds: separateSeconds,
      wallSamples: separateSamples,
      perRunSeconds,
      realtimeFactor: facts.durationSeconds / separateSeconds,
      rungs: separate,
    },
    ratioSeparateOverOnePass: ratio,
  };
  await writeFile(join(OUT, "results.json"), `${JSON.stringify(results, null, 2)}\n`);

  const line = "-".repeat(78);
  console.log(`\n${line}`);
  console.log(
    `ladder ${rungs.map((r) => r.name).join("/")} from ${facts.durationSeconds.toFixed(0)} s of 1080p30 at ` +
      `${(sourceBitrate / 1e6).toFixed(1)} Mb/s; libx264 ${encoder.preset}, capped CRF ${encoder.crf ?? DEFAULT_X264_CRF}; ${os.cpus().length} cores`,
  );
  console.log(line);
  console.log(`${"method".padEnd(34)}${pad("wall s", 10)}${pad("realtime", 12)}`);
  console.log(
    `${"one pass (decode once, split)".padEnd(34)}${pad(onePassSeconds.toFixed(1), 10)}${pad(`${(facts.durationSeconds / onePassSeconds).toFixed(2)}x`, 12)}`,
  );
  console.log(
    `${"three runs (one per rung)".padEnd(34)}${pad(separateSeconds.toFixed(1), 10)}${pad(`${(facts.durationSeconds / separateSeconds).toFixed(2)}x`, 12)}` +
      `   (${Object.entries(perRunSeconds)
        .map(([n, s]) => `${n} ${s.toFixed(1)} s`)
        .join(", ")})`,
  );
  console.log(
    `three runs / one pass: ${ratio.toFixed(2)}x   (best of ${REPEAT}; samples one pass ` +
      `${onePassSamples.map((x) => x.toFixed(1)).join(", ")} s, three runs ${separateSamples.map((x) => x.toFixed(1)).join(", ")} s)`,
  );
  console.log(line);
  console.log(
    `${"rung".padEnd(8)}${"size".padEnd(11)}${pad("one-pass avg/peak kb/s", 24)}${pad("SSIM", 8)}${pad("three-runs avg/peak kb/s", 27)}${pad("SSIM", 8)}`,
  );
  onePass.forEach((a, i) => {
    const b = separate[i] as RungResult;
    console.log(
      `${a.name.padEnd(8)}${`${a.width}x${a.height}`.padEnd(11)}${pad(`${a.averageKbps}/${a.peakKbps}`, 24)}${pad(a.ssim.toFixed(4), 8)}` +
        `${pad(`${b.averageKbps}/${b.peakKbps}`, 27)}${pad(b.ssim.toFixed(4), 8)}`,
    );
  });
  console.log(line);
  console.log(`results: ${join(OUT, "results.json")}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
