import { execTool, toolRunError } from "./run-ffmpeg.ts";

export interface ToolPaths {
  ffmpegPath: string;
  ffprobePath: string;
}

const TIMEOUT_MS = 30_000;

async function output(binary: string, args: string[], envName: string): Promise<string> {
  const name = envName.replace(/_PATH$/, "").toLowerCase();
  const fail = (err: Error) =>
    new Error(`${name} not runnable at "${binary}" (set ${envName}): ${err.message}`, { cause: err });
  const run = await execTool(binary, args, { timeoutMs: TIMEOUT_MS }).catch((err: Error) => {
    throw fail(err);
  });
  if (run.code !== 0) throw fail(toolRunError(binary, run, TIMEOUT_MS));
  return run.stdout;
}

/** Fails start-up when ffmpeg/ffprobe are missing or lack libx264, instead of failing every job later. */
export async function checkTools({ ffmpegPath, ffprobePath }: ToolPaths): Promise<void> {
  await output(ffprobePath, ["-hide_banner", "-version"], "FFPROBE_PATH");
  await output(ffmpegPath, ["-hide_banner", "-version"], "FFMPEG_PATH");
  const encoders = await output(ffmpegPath, ["-hide_banner", "-encoders"], "FFMPEG_PATH");
  if (!/\blibx264\b/.test(encoders)) throw new Error(`${ffmpegPath} has no libx264 encoder`);
}

/** The first line of `ffmpeg -version` (benchmarks and start-up logs record which build ran). */
export async function ffmpegVersion(ffmpegPath = "ffmpeg"): Promise<string> {
  const stdout = await output(ffmpegPath, ["-hide_banner", "-version"], "FFMPEG_PATH");
  return stdout.split("\n")[0] ?? "";
}
