import { stat } from "node:fs/promises";
import { sourceInputArgs } from "./confine.ts";
import type { MediaFacts } from "./probe.ts";
import { runFfmpeg } from "./run-ffmpeg.ts";

export const POSTER_MAX_WIDTH = 1280;
/** Where in the video the poster is taken: past intros and fades, before most of the content. */
export const POSTER_POSITION = 0.1;

const evenDown = (n: number) => Math.max(2, Math.floor(n / 2) * 2);

/** Poster size: the source's display size, at most 1280 wide, both sides even. */
export function posterSize(facts: Pick<MediaFacts, "width" | "height">): { width: number; height: number } {
  const width = evenDown(Math.min(POSTER_MAX_WIDTH, facts.width));
  const height = Math.max(2, Math.round((facts.height * width) / facts.width / 2) * 2);
  return { width, height };
}

/** ffmpeg argv for one JPEG frame; the seek goes before -i so ffmpeg jumps instead of decoding up to it. */
export function buildPosterArgs(
  input: string,
  output: string,
  facts: Pick<MediaFacts, "width" | "height">,
  atSeconds: number,
  maxPixels?: number,
): string[] {
  const { width, height } = posterSize(facts);
  return [
    "-hide_banner",
    "-nostdin",
    "-y",
    ...sourceInputArgs(maxPixels, input),
    "-ss",
    atSeconds.toFixed(3),
    "-i",
    input,
    "-map",
    "0:v:0",
    "-frames:v",
    "1",
    "-vf",
    `scale=${width}:${height},setsar=1`,
    "-q:v",
    "3",
    "-an",
    "-sn",
    "-map_metadata",
    "-1",
    "-update",
    "1",
    output,
  ];
}

async function nonEmpty(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.size > 0,
    () => false,
  );
}

/** Writes poster.jpg from ~10% into the video, falling back to the first frame if the seek lands past the end. */
export async function makePoster(
  input: string,
  output: string,
  facts: Pick<MediaFacts, "width" | "height" | "durationSeconds">,
  options: {
    ffmpegPath: string;
    signal?: AbortSignal;
    timeoutMs?: number;
    maxPixels?: number;
    memoryLimitBytes?: number;
  },
): Promise<void> {
  const at = facts.durationSeconds * POSTER_POSITION;
  await runFfmpeg(buildPosterArgs(input, output, facts, at, options.maxPixels), options);
  if (await nonEmpty(output)) return;
  await runFfmpeg(buildPosterArgs(input, output, facts, 0, options.maxPixels), options);
  if (!(await nonEmpty(output))) throw new Error("ffmpeg wrote no poster frame");
}
