import { stat } from "node:fs/promises";
import { z } from "zod";
import { formatNotAccepted, refusedFormat, sourceInputArgs } from "./confine.ts";
import { BadMediaError } from "./errors.ts";
import { checkSourceLimits, DEFAULT_SOURCE_LIMITS, type LimitFacts, type SourceLimits } from "./limits.ts";
import { parseRational, type Rational, reduce, toNumber } from "./rational.ts";
import { execTool, type ToolRun, toolRunError } from "./run-ffmpeg.ts";

/** What the planner needs to know about a source, after rotation and pixel aspect are applied. */
export interface MediaFacts {
  /** Display width after rotation and sample aspect ratio. */
  width: number;
  /** Display height after rotation. */
  height: number;
  /** Clockwise rotation ffmpeg's autorotate will apply: 0, 90, 180 or 270. */
  rotation: 0 | 90 | 180 | 270;
  /** The source's frame rate (average; nominal when the file has no average). */
  frameRate: Rational;
  fps: number;
  /** True when the average and nominal rates disagree (phone and screen recordings). */
  variableFrameRate: boolean;
  durationSeconds: number;
  /**
   * The video stream's own duration where the container says it (MP4 does, Matroska usually not): the
   * frames to encode. The container's duration can run past it (a longer audio track).
   */
  videoDurationSeconds?: number;
  hasAudio: boolean;
  /** ffprobe's codec_name of the video stream, e.g. "h264", "hevc", "vp9". */
  videoCodec: string;
  /** ffprobe's pix_fmt of the video stream, e.g. "yuv420p", "yuv422p10le" (decides GPU decoding). */
  pixelFormat: string;
  /** ffprobe's format_name, e.g. "mov,mp4,m4a,3gp,3g2,mj2". */
  formatName: string;
}

/** parseProbe's result: the duration can be missing from headers (browser-recorded WebM). */
export type ParsedProbe = Omit<MediaFacts, "durationSeconds"> & { durationSeconds: number | null };

export const BAD_MEDIA = {
  empty: "The uploaded file is empty (0 bytes)",
  unreadable: "The uploaded file is not a video FFmpeg can read",
  truncated: "The uploaded file is incomplete or truncated (the upload may have been interrupted)",
  noVideo: "The uploaded file has no video stream",
  stillImage: "The uploaded file is a still image, not a video",
  noSize: "The uploaded file's video stream has no picture size",
} as const;

const ProbeStream = z.looseObject({
  codec_type: z.string().optional(),
  codec_name: z.string().optional(),
  pix_fmt: z.string().optional(),
  width: z.number().optional(),
  height: z.number().optional(),
  sample_aspect_ratio: z.string().optional(),
  r_frame_rate: z.string().optional(),
  avg_frame_rate: z.string().optional(),
  duration: z.string().optional(),
  nb_read_packets: z.string().optional(),
  disposition: z.looseObject({ attached_pic: z.number().optional() }).optional(),
  tags: z.record(z.string(), z.unknown()).optional(),
  side_data_list: z.array(z.looseObject({ rotation: z.number().optional() })).optional(),
});

const ProbeOutput = z.looseObject({
  streams: z.array(ProbeStream).default([]),
  format: z.looseObject({ format_name: z.string().optional(), duration: z.string().optional() }).optional(),
});

// Decoders the tty demuxer produces for arbitrary bytes: "video" that is really text art.
const TEXT_ART_CODECS = new Set(["ansi", "bintext", "xbin", "idf", "tty"]);
// Frame rates we snap near-misses to (mp4 timestamps make 29.97 read back as 1798200/60001).
const STANDARD_RATES: Rational[] = [
  { num: 24000, den: 1001 },
  { num: 24, den: 1 },
  { num: 25, den: 1 },
  { num: 30000, den: 1001 },
  { num: 30, den: 1 },
  { num: 48, den: 1 },
  { num: 50, den: 1 },
  { num: 60000, den: 1001 },
  { num: 60, den: 1 },
  { num: 120, den: 1 },
];
const VFR_TOLERANCE = 0.02;

function positive(text: string | undefined): number | null {
  const n = Number(text);
  return text !== undefined && Number.isFinite(n) && n > 0 ? n : null;
}

function isPixels(n: number | undefined): n is number {
  return n !== undefined && Number.isSafeInteger(n) && n > 0;
}

function snapRate(rate: Rational): Rational {
  const value = toNumber(rate);
  return STANDARD_RATES.find((s) => Math.abs(toNumber(s) - value) / toNumber(s) < 0.001) ?? reduce(rate);
}

function rotationOf(stream: z.infer<typeof ProbeStream>): MediaFacts["rotation"] {
  // ffprobe reports the display matrix counter-clockwise; the legacy `rotate` tag is clockwise.
  const matrix = stream.side_data_list?.find((d) => d.rotation !== undefined)?.rotation;
  const tag = Number(stream.tags?.rotate);
  const clockwise = matrix !== undefined ? -matrix : Number.isFinite(tag) ? tag : 0;
  const quarter = ((Math.round(clockwise / 90) % 4) + 4) % 4;
  return (quarter * 90) as MediaFacts["rotation"];
}

/** What the source limits are checked against, besides the parsed facts (all but the duration). */
export type ProbedShape = Pick<LimitFacts, "codedWidth" | "codedHeight" | "videoPackets">;

/** Turns ffprobe's JSON into the few facts the planner needs, rejecting what isn't a video. */
export function parseProbe(json: unknown): ParsedProbe {
  return inspectProbe(json).facts;
}

/** parseProbe, plus the coded size and packet count the source limits need. */
export function inspectProbe(json: unknown): { facts: ParsedProbe; shape: ProbedShape } {
  const parsed = ProbeOutput.safeParse(json);
  if (!parsed.success) throw new BadMediaError(BAD_MEDIA.unreadable);
  const { streams, format } = parsed.data;
  const formatName = format?.format_name ?? "";
  if (formatName === "tty") throw new BadMediaError(BAD_MEDIA.unreadable);

  const video = streams.find((s) => s.codec_type === "video" && s.disposition?.attached_pic !== 1);
  if (!video) throw new BadMediaError(BAD_MEDIA.noVideo);
  if (TEXT_ART_CODECS.has(video.codec_name ?? "")) throw new BadMediaError(BAD_MEDIA.unreadable);
  if (/(^|,)(image2|[a-z0-9]+_pipe)(,|$)/.test(formatName)) throw new BadMediaError(BAD_MEDIA.stillImage);
  // Whole positive pixels only: ffprobe JSON is input, and a negative or fractional size must not pass.
  const codedWidth = video.width;
  const codedHeight = video.height;
  if (!isPixels(codedWidth) || !isPixels(codedHeight)) throw new BadMediaError(BAD_MEDIA.noSize);

  const sar = parseRational(video.sample_aspect_ratio?.replace(":", "/"));
  const stretched = sar ? Math.round((codedWidth * sar.num) / sar.den) : codedWidth;
  // A pixel aspect that squeezes the picture to nothing (or past any size) is no picture size at all.
  if (!isPixels(stretched)) throw new BadMediaError(BAD_MEDIA.noSize);
  const storedWidth = stretched;
  const rotation = rotationOf(video);
  const quarterTurn = rotation === 90 || rotation === 270;

  const avg = parseRational(video.avg_frame_rate);
  const nominal = parseRational(video.r_frame_rate);
  const variableFrameRate =
    avg !== null &&
    nominal !== null &&
    Math.abs(toNumber(nominal) - toNumber(avg)) / toNumber(avg) > VFR_TOLERANCE;
  // For constant-rate files r_frame_rate is the clean spelling (30000/1001); for VFR the average is the truth.
  const rate = variableFrameRate ? avg : (nominal ?? avg);
  const frameRate = rate ? snapRate(rate) : { num: 30, den: 1 };

  const packets = positive(video.nb_read_packets);
  const shape = { codedWidth, codedHeight, videoPackets: packets };
  const facts = {
    width: quarterTurn ? codedHeight : storedWidth,
    height: quarterTurn ? storedWidth : codedHeight,
    rotation,
    frameRate,
    fps: toNumber(frameRate),
    variableFrameRate: variableFrameRate || rate === null,
    durationSeconds: positive(format?.duration) ?? positive(video.duration),
    videoDurationSeconds: positive(video.duration) ?? undefined,
    hasAudio: streams.some((s) => s.codec_type === "audio"),
    videoCodec: video.codec_name ?? "unknown",
    pixelFormat: video.pix_fmt ?? "unknown",
    formatName,
  };
  return { facts, shape };
}

/** Maps ffprobe's stderr to a reason the uploader can act on; null when it isn't about the media. */
export function classifyProbeFailure(stderr: string): BadMediaError | null {
  const format = refusedFormat(stderr);
  if (format !== null) {
    const image = /^(image2|[a-z0-9]+_pipe)$/.test(format);
    return new BadMediaError(image ? BAD_MEDIA.stillImage : formatNotAccepted(format));
  }
  if (/moov atom not found|partial file|Truncat|End of file/i.test(stderr)) {
    return new BadMediaError(BAD_MEDIA.truncated);
  }
  if (
    /Invalid data found when processing input|could not find codec parameters|Unknown format/i.test(stderr)
  ) {
    return new BadMediaError(BAD_MEDIA.unreadable);
  }
  return null;
}

export interface ProbeOptions {
  ffprobePath: string;
  ffmpegPath: string;
  signal?: AbortSignal;
  timeoutMs?: number;
  /** What a source may ask for (duration, size, rate); defaults to DEFAULT_SOURCE_LIMITS. */
  limits?: SourceLimits;
  /** Address-space ceiling of ffprobe/ffmpeg (run-ffmpeg.ts); none when absent. */
  memoryLimitBytes?: number;
}

// -count_packets makes ffprobe demux the whole file (no decoding): a few seconds for hours of video.
const DEFAULT_TIMEOUT_MS = 300_000;

/** Runs ffprobe/ffmpeg through the one runner; a run that timed out is an error, a non-zero exit is data. */
async function run(binary: string, args: string[], options: ProbeOptions): Promise<ToolRun> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const { signal, memoryLimitBytes } = options;
  const result = await execTool(binary, args, { signal, timeoutMs, memoryLimitBytes });
  if (result.code === null) throw toolRunError(binary, result, timeoutMs);
  return result;
}

/** Reads the duration from packet timestamps when the container header has none (MediaRecorder WebM). */
async function durationFromPackets(path: string, options: ProbeOptions): Promise<number | null> {
  const { stderr } = await run(
    options.ffmpegPath,
    [
      "-hide_banner",
      "-nostdin",
      ...sourceInputArgs(undefined, path),
      "-i",
      path,
      "-map",
      "0:v:0",
      "-c",
      "copy",
      "-f",
      "null",
      "-",
    ],
    options,
  );
  const times = [...stderr.matchAll(/time=(\d+):(\d+):(\d+(?:\.\d+)?)/g)];
  const last = times.at(-1);
  if (!last) return null;
  const seconds = Number(last[1]) * 3600 + Number(last[2]) * 60 + Number(last[3]);
  return seconds > 0 ? seconds : null;
}

/** ffprobe's JSON for a source, read into facts; `countPackets` demuxes all of it (see probeFile). */
async function probeSource(source: string, countPackets: boolean, options: ProbeOptions) {
  const probed = await run(
    options.ffprobePath,
    // -count_packets: how many frames the file really holds, against its duration (checkSourceLimits).
    // sourceInputArgs: only the source itself and the accepted containers (confine.ts).
    [
      ...["-v", "error", ...sourceInputArgs(undefined, source), ...(countPackets ? ["-count_packets"] : [])],
      ...["-print_format", "json", "-show_streams", "-show_format", source],
    ],
    options,
  );
  if (probed.code !== 0) throw classifyProbeFailure(probed.stderr) ?? toolRunError("ffprobe", probed);
  let json: unknown;
  try {
    json = JSON.parse(probed.stdout);
  } catch {
    throw new BadMediaError(BAD_MEDIA.unreadable);
  }
  return inspectProbe(json);
}

/**
 * What the source's header says, read over a URL without demuxing the rest (a few range requests,
 * whatever the size), so its encode can be planned and started before a download could finish. The
 * limits are checked except the frame count against the duration, which needs every packet: probeFile
 * on the whole file checks that (and everything else) once it is here. Null when the header lacks the
 * duration (a MediaRecorder WebM, say): only the whole file tells then.
 */
export async function probeHeader(url: string, options: ProbeOptions): Promise<MediaFacts | null> {
  const { facts, shape } = await probeSource(url, false, options);
  if (facts.durationSeconds === null) return null;
  const result = { ...facts, durationSeconds: facts.durationSeconds };
  checkSourceLimits({ ...result, ...shape, videoPackets: null }, options.limits ?? DEFAULT_SOURCE_LIMITS);
  return result;
}

/** Probes a local file; bad media becomes a BadMediaError with a reason for the uploader. */
export async function probeFile(path: string, options: ProbeOptions): Promise<MediaFacts> {
  const { size } = await stat(path);
  if (size === 0) throw new BadMediaError(BAD_MEDIA.empty);
  const { facts, shape } = await probeSource(path, true, options);
  const durationSeconds = facts.durationSeconds ?? (await durationFromPackets(path, options));
  if (durationSeconds === null) throw new BadMediaError(BAD_MEDIA.unreadable);
  const result = { ...facts, durationSeconds };
  checkSourceLimits({ ...result, ...shape }, options.limits ?? DEFAULT_SOURCE_LIMITS);
  return result;
}
