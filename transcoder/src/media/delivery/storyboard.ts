import { access, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type DeliveryAssets, STORYBOARD_VTT, spriteName } from "@streamlet/shared";
import { runFfmpeg } from "../run-ffmpeg.ts";
import { scratchDir, trackInputArgs, writeTrackList } from "./download.ts";
import type { DeliveryToolOptions, LocalTrack } from "./types.ts";

/**
 * The storyboard a player shows above its seek bar: thumbnails at a fixed interval, tiled into JPEG
 * sprite sheets, and a WebVTT that maps each interval to its region (`sprite_001.jpg#xywh=x,y,w,h`).
 * Made from the lowest rung (cheapest to decode) in one ffmpeg run.
 */

export type StoryboardMeta = NonNullable<DeliveryAssets["storyboard"]>;

/** Thumbnail width (px); the height follows the picture's aspect ratio, even. Never wider than the rung. */
export const THUMBNAIL_WIDTH = 160;
/** Thumbnails per sheet row. */
export const SPRITE_COLUMNS = 10;
/** Most rows per sheet (10 x 10 = 100 thumbnails, 1600 px wide). */
export const SPRITE_MAX_ROWS = 10;
/** Most thumbnails for any video (so at most two sheets). */
export const MAX_THUMBNAILS = 200;
/**
 * Intervals (s) the storyboard may use. Whole seconds keep cue times readable and the fps filter's
 * rate (1/interval) exact; past the first step consecutive steps differ by at most 1.5x, so the count
 * the rule below picks stays between 100 (just over 200 s, at 2 s) and 200 for any video over 200 s,
 * and over 133 past 400 s.
 */
const INTERVAL_STEPS = [1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 30, 45, 60, 90, 120, 180];
/** JPEG quality (ffmpeg -q:v, 2 best … 31 worst): 4 keeps a 160-px thumbnail clean at ~5 KB. */
const JPEG_QUALITY = "4";

/**
 * Seconds between thumbnails: one a second for videos up to 200 s (a finer storyboard than a seek bar
 * can show), else the smallest step that keeps the count at MAX_THUMBNAILS or under. 100-200 thumbnails
 * let a scrub land within ~1% of the video, and 2 sheets of ~100 KB load at once.
 */
export function storyboardInterval(durationSeconds: number): number {
  const needed = durationSeconds / MAX_THUMBNAILS;
  const step = INTERVAL_STEPS.find((s) => s >= needed);
  return step ?? Math.ceil(needed / 60) * 60;
}

/** How many thumbnails the interval gives: one starting at every multiple of it before the end. */
export function expectedThumbnails(durationSeconds: number, intervalSeconds: number): number {
  return Math.max(1, Math.ceil(durationSeconds / intervalSeconds - 1e-9));
}

/** "HH:MM:SS.mmm" for a WebVTT cue. */
export function vttTime(seconds: number): string {
  const ms = Math.max(0, Math.round(seconds * 1000));
  const pad = (n: number, width = 2) => String(n).padStart(width, "0");
  return `${pad(Math.floor(ms / 3_600_000))}:${pad(Math.floor(ms / 60_000) % 60)}:${pad(Math.floor(ms / 1000) % 60)}.${pad(ms % 1000, 3)}`;
}

/** What ffmpeg's framecrc of the thumbnails says: their size and each one's time (s), in order. */
export function parseFramecrc(text: string): { width: number; height: number; times: number[] } {
  const size = /^#dimensions 0: (\d+)x(\d+)$/m.exec(text);
  const tb = /^#tb 0: (\d+)\/(\d+)$/m.exec(text);
  if (!size || !tb) throw new Error("ffmpeg's framecrc of the storyboard lacks its header");
  const tick = Number(tb[1]) / Number(tb[2]);
  const times = text
    .split("\n")
    .filter((line) => /^0,/.test(line))
    .map((line) => Number(line.split(",")[2]) * tick);
  return { width: Number(size[1]), height: Number(size[2]), times };
}

/** The storyboard WebVTT: one cue per thumbnail, back to back from 0 to the end of the video. */
export function buildStoryboardVtt(a: {
  /** Each thumbnail's start time (s), in order; the first is taken as 0. */
  starts: number[];
  durationSeconds: number;
  width: number;
  height: number;
  columns: number;
  rows: number;
}): string {
  const perSheet = a.columns * a.rows;
  const cues = a.starts.map((start, i) => {
    const from = i === 0 ? 0 : start;
    const to = a.starts[i + 1] ?? a.durationSeconds;
    const cell = i % perSheet;
    const x = (cell % a.columns) * a.width;
    const y = Math.floor(cell / a.columns) * a.height;
    const region = `${spriteName(Math.floor(i / perSheet) + 1)}#xywh=${x},${y},${a.width},${a.height}`;
    return `${vttTime(from)} --> ${vttTime(to)}\n${region}\n`;
  });
  return `WEBVTT\n\n${cues.join("\n")}`;
}

/** ffmpeg argv (without the binary): thumbnails every interval, tiled into sheets, and a framecrc of them. */
export function buildStoryboardArgs(a: {
  trackList: string;
  intervalSeconds: number;
  maxThumbnails: number;
  rows: number;
  outDir: string;
  crcFile: string;
}): string[] {
  if (a.outDir.includes("%")) throw new Error(`storyboard folder must not contain "%": ${a.outDir}`);
  // round=up: the thumbnail of [kI, (k+1)I) is the picture on screen at kI, where a click on the cue's
  // start seeks to (the default, near, takes the one just before kI + I/2). trim bounds the count
  // whatever the stream's end does.
  const graph = [
    `[0:v:0]fps=1/${a.intervalSeconds}:round=up,trim=end_frame=${a.maxThumbnails},`,
    `scale=w='min(${THUMBNAIL_WIDTH},iw)':h=-2,setsar=1,split=2[grid][count];`,
    `[grid]tile=${SPRITE_COLUMNS}x${a.rows}[sheets]`,
  ].join("");
  return [
    "-hide_banner",
    "-nostdin",
    "-y",
    ...trackInputArgs(a.trackList),
    "-filter_complex",
    graph,
    ...["-map", "[sheets]", "-q:v", JPEG_QUALITY, "-start_number", "1", "-f", "image2"],
    join(a.outDir, "sprite_%03d.jpg"),
    ...["-map", "[count]", "-f", "framecrc", a.crcFile],
  ];
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/**
 * Writes the storyboard (sprite sheets and STORYBOARD_VTT) into `outDir` from a video rung (the lowest:
 * cheapest to decode), in one sandboxed ffmpeg run. The cues follow the thumbnails ffmpeg actually wrote.
 */
export async function makeStoryboard(
  input: { track: LocalTrack; durationSeconds: number; outDir: string },
  options: DeliveryToolOptions,
): Promise<{ files: string[]; vttPath: string; meta: StoryboardMeta }> {
  const { durationSeconds, outDir } = input;
  if (!(durationSeconds > 0)) throw new Error(`storyboard needs a positive duration, got ${durationSeconds}`);
  const intervalSeconds = storyboardInterval(durationSeconds);
  const maxThumbnails = expectedThumbnails(durationSeconds, intervalSeconds);
  const rows = Math.min(SPRITE_MAX_ROWS, Math.ceil(maxThumbnails / SPRITE_COLUMNS));
  const scratch = await scratchDir("storyboard", options.scratchDir);
  try {
    const trackList = join(scratch, "track.txt");
    const crcFile = join(scratch, "thumbnails.crc");
    await writeTrackList(input.track, trackList);
    await runFfmpeg(
      buildStoryboardArgs({ trackList, intervalSeconds, maxThumbnails, rows, outDir, crcFile }),
      { ...options, durationSeconds },
    );
    const { width, height, times } = parseFramecrc(await readFile(crcFile, "utf8"));
    // The fps filter's pts count intervals; whole seconds stay exact after rounding to the ms.
    const slots = times.map((t) => Math.round(t / intervalSeconds));
    if (slots.length === 0) throw new Error(`ffmpeg wrote no storyboard thumbnail for ${input.track.name}`);
    if (slots.some((s, i) => i > 0 && s <= (slots[i - 1] as number))) {
      throw new Error(`storyboard thumbnails out of order: ${slots.join(",")}`);
    }
    const sprites = Math.ceil(slots.length / (SPRITE_COLUMNS * rows));
    const spritePaths = Array.from({ length: sprites }, (_, i) => join(outDir, spriteName(i + 1)));
    for (const path of spritePaths) {
      if (!(await exists(path))) throw new Error(`ffmpeg did not write storyboard sheet ${path}`);
    }
    if (await exists(join(outDir, spriteName(sprites + 1)))) {
      throw new Error(`ffmpeg wrote more storyboard sheets than its ${slots.length} thumbnails fill`);
    }
    const vttPath = join(outDir, STORYBOARD_VTT);
    const vtt = buildStoryboardVtt({
      starts: slots.map((s) => s * intervalSeconds),
      durationSeconds,
      width,
      height,
      columns: SPRITE_COLUMNS,
      rows,
    });
    await writeFile(vttPath, vtt);
    return {
      files: [...spritePaths, vttPath],
      vttPath,
      meta: { intervalSeconds, thumbnails: slots.length, sprites, width, height },
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
