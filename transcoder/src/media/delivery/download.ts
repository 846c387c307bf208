import { mkdtemp, open, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { readFragment, readTrackInfo } from "../chunks/fmp4.ts";
import { execTool, runFfmpeg, toolRunError } from "../run-ffmpeg.ts";
import type { DeliveryToolOptions, LocalTrack } from "./types.ts";

/**
 * The progressive MP4 offered for download: one rung's video and the audio rendition, copied (never
 * re-encoded) from the published CMAF fragments into one MP4 with the moov first, so a browser or
 * player can start it before the whole file has arrived.
 */

/**
 * ffmpeg input options that read a published track as one fragmented MP4: its init then its segments,
 * joined by the concatf protocol from a list file (one path a line; the list, not the command line,
 * holds the paths, so a 6-h rung's thousands of segments fit). Only that list and local files are
 * opened, only as MP4.
 */
export function trackInputArgs(listPath: string): string[] {
  return ["-protocol_whitelist", "concatf,file", "-format_whitelist", "mov", "-i", `concatf:${listPath}`];
}

/** Writes the concatf list for a track (init first, segments in order) to `listPath`. */
export async function writeTrackList(track: LocalTrack, listPath: string): Promise<void> {
  const paths = [track.initPath, ...track.segmentPaths].map((p) => resolve(p));
  if (track.segmentPaths.length === 0) throw new Error(`track ${track.name} has no segments`);
  if (paths.some((p) => /[\r\n]/.test(p)))
    throw new Error(`track ${track.name} has a path with a line break`);
  await writeFile(listPath, `${paths.join("\n")}\n`);
}

/** A scratch folder for list and stats files, removed by the caller. */
export function scratchDir(prefix: string, parent?: string): Promise<string> {
  return mkdtemp(join(parent ?? tmpdir(), `streamlet-${prefix}-`));
}

/**
 * Where FFmpeg 5.1 puts a track's first frame, minus where the file says it is, in seconds. A video
 * track with negative composition offsets (trun version 1, no edit list: how chunked rungs are stored,
 * chunks/encode-chunk.ts) is read by FFmpeg's mov demuxer with every picture late by its dts_shift
 * (two frames with B-frames), while a browser presents the first frame at its decode time. The file's
 * own earliest presentation time (tfdt + smallest composition offset of the first fragment) is the
 * truth; FFmpeg's reading is what ffprobe reports as the stream's start_time.
 */
export async function ffmpegLateBy(
  track: LocalTrack,
  listPath: string,
  options: DeliveryToolOptions,
): Promise<number> {
  const info = readTrackInfo(await readFile(track.initPath));
  const first = await readFile(track.segmentPaths[0] as string);
  const truth = Number(readFragment(first, info).earliestPresentation) / info.timescale;
  const ffprobe = options.ffprobePath ?? "ffprobe";
  const args = [
    ...["-v", "error", ...trackInputArgs(listPath).slice(0, -2)],
    ...["-select_streams", "0", "-show_entries", "stream=start_time", "-of", "csv=p=0"],
    `concatf:${listPath}`,
  ];
  const run = await execTool(ffprobe, args, {
    signal: options.signal,
    timeoutMs: options.timeoutMs,
    memoryLimitBytes: options.memoryLimitBytes,
  });
  if (run.code !== 0) throw toolRunError(ffprobe, run, options.timeoutMs);
  const read = Number(run.stdout.trim());
  if (!Number.isFinite(read)) throw new Error(`ffprobe gave no start time for track ${track.name}`);
  return read - truth;
}

/** ffmpeg argv (without the binary) that copies video (and audio) into a moov-first MP4. */
export function buildDownloadArgs(a: {
  videoList: string;
  audioList: string | null;
  /** ffmpegLateBy of the video track: taken back out with -itsoffset. */
  videoLateBy: number;
  outFile: string;
}): string[] {
  return [
    "-hide_banner",
    "-nostdin",
    "-y",
    // Keep each track's own times (AAC priming stays before 0, in the audio's edit list) instead of
    // moving each input to start at 0, which would shift the audio against the video by its priming.
    "-copyts",
    "-itsoffset",
    (-a.videoLateBy).toFixed(6),
    ...trackInputArgs(a.videoList),
    ...(a.audioList ? trackInputArgs(a.audioList) : []),
    "-map",
    "0:v:0",
    ...(a.audioList ? ["-map", "1:a:0"] : []),
    "-c",
    "copy",
    "-map_metadata",
    "-1",
    "-movflags",
    "+faststart",
    "-f",
    "mp4",
    a.outFile,
  ];
}

/** The top-level box types of an MP4 file, in order, read from their headers only. */
export async function topLevelBoxes(path: string): Promise<string[]> {
  const file = await open(path, "r");
  try {
    const { size } = await file.stat();
    const types: string[] = [];
    const header = Buffer.alloc(16);
    let offset = 0;
    while (offset < size) {
      const { bytesRead } = await file.read(header, 0, 16, offset);
      if (bytesRead < 8) throw new Error(`${path}: truncated box header at byte ${offset}`);
      const small = header.readUInt32BE(0);
      const type = header.toString("latin1", 4, 8);
      const boxSize = small === 1 ? Number(header.readBigUInt64BE(8)) : small === 0 ? size - offset : small;
      if (boxSize < 8 || offset + boxSize > size)
        throw new Error(`${path}: bad ${type} box at byte ${offset}`);
      types.push(type);
      offset += boxSize;
    }
    return types;
  } finally {
    await file.close();
  }
}

/** Throws unless the file is progressive and moov-first: a moov before any mdat, and no moof. */
export function checkProgressive(types: string[]): void {
  const moov = types.indexOf("moov");
  const mdat = types.indexOf("mdat");
  if (moov < 0 || mdat < 0) throw new Error(`download MP4 lacks ${moov < 0 ? "moov" : "mdat"}: ${types}`);
  if (moov > mdat) throw new Error(`download MP4 has its moov after the mdat: ${types}`);
  if (types.includes("moof")) throw new Error(`download MP4 is fragmented: ${types}`);
}

/** What ffprobe says of the written file: its duration and which kinds of stream it holds. */
async function probeDownload(path: string, options: DeliveryToolOptions) {
  const ffprobe = options.ffprobePath ?? "ffprobe";
  const args = [
    ...["-v", "error", "-protocol_whitelist", "file", "-format_whitelist", "mov"],
    ...["-show_entries", "format=duration:stream=codec_type", "-of", "json", path],
  ];
  const run = await execTool(ffprobe, args, {
    signal: options.signal,
    timeoutMs: options.timeoutMs,
    memoryLimitBytes: options.memoryLimitBytes,
  });
  if (run.code !== 0) throw toolRunError(ffprobe, run, options.timeoutMs);
  const json = JSON.parse(run.stdout) as {
    format?: { duration?: string };
    streams?: { codec_type?: string }[];
  };
  return {
    durationSeconds: Number(json.format?.duration),
    kinds: (json.streams ?? []).map((s) => s.codec_type ?? ""),
  };
}

/**
 * Remuxes a rung (and the audio) into `outFile`, a progressive moov-first MP4, in one sandboxed ffmpeg
 * run; checks the box order and the streams, and returns its size and ffprobe's duration.
 */
export async function remuxDownload(
  input: { video: LocalTrack; audio: LocalTrack | null; outFile: string },
  options: DeliveryToolOptions,
): Promise<{ bytes: number; durationSeconds: number }> {
  const scratch = await scratchDir("download", options.scratchDir);
  try {
    const videoList = join(scratch, "video.txt");
    await writeTrackList(input.video, videoList);
    const audioList = input.audio ? join(scratch, "audio.txt") : null;
    if (input.audio && audioList) await writeTrackList(input.audio, audioList);
    const videoLateBy = await ffmpegLateBy(input.video, videoList, options);
    const args = buildDownloadArgs({ videoList, audioList, videoLateBy, outFile: input.outFile });
    await runFfmpeg(args, options);
    checkProgressive(await topLevelBoxes(input.outFile));
    const probed = await probeDownload(input.outFile, options);
    const wanted = input.audio ? ["video", "audio"] : ["video"];
    if (wanted.some((kind) => !probed.kinds.includes(kind)) || probed.kinds.length !== wanted.length) {
      throw new Error(`download MP4 holds ${probed.kinds.join("+")}, expected ${wanted.join("+")}`);
    }
    if (!(probed.durationSeconds > 0)) throw new Error("download MP4 has no duration");
    return { bytes: (await stat(input.outFile)).size, durationSeconds: probed.durationSeconds };
  } catch (err) {
    await rm(input.outFile, { force: true });
    throw err;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
