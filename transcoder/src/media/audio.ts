import { mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import {
  AUDIO_FOLDER,
  INIT_SEGMENT,
  SEGMENT_PATTERN,
  segmentName,
  VARIANT_PLAYLIST,
} from "@streamlet/shared";
import { sourceInputArgs } from "./confine.ts";
import { AUDIO_ARGS } from "./ffmpeg-args.ts";
import { normalizeInitSegment } from "./hls-layout.ts";
import { parseMediaPlaylist } from "./hls-measure.ts";
import { type RunFfmpegOptions, runFfmpeg } from "./run-ffmpeg.ts";

/**
 * The audio rendition, encoded once for the whole video in its own ffmpeg run while the video is
 * encoded in chunks elsewhere (MEDIA.md "Chunked parallel encoding"). Only for sources with audio:
 * a caller whose probe found none (MediaFacts.hasAudio false) does not call it, and publishes no audio
 * group (provisionalMasterPlaylist / writeMasterPlaylist with `audio: null`).
 *
 * Timing. The AAC encoder emits 1024 samples of priming (encoder delay) before the first real sample:
 * its first packet has pts -1024. FFmpeg's default (`avoid_negative_ts`) shifts that packet to 0, which
 * plays every sound 21.3 ms (1024/48000 s) late, and FFmpeg 5.1's hls muxer writes an edit list that
 * says nothing (media_time 0). With `-avoid_negative_ts disabled` the negative timestamp reaches the
 * inner mp4 muxer, which keeps tfdt at 0 and writes the delay into init.mp4's edit list
 * (elst media_time 1024): presentation time 0 is the source's first sample, the way a progressive MP4
 * signals AAC priming. Audio is encoded once, so there is one init and one edit, unlike the chunked
 * video (whose chunks must not carry edits). `aresample=async=1:first_pts=0` starts the audio at 0 and
 * fills holes in the source's audio timestamps with silence (and drops overlaps), so the sample count
 * and the timeline never drift apart over a long video.
 */

/** The nominal AAC rate AUDIO_ARGS asks for (-b:a), bits/s. */
export const AUDIO_BITRATE = parseRate(argAfter("-b:a"));
/** Channels of the audio rendition (-ac). */
export const AUDIO_CHANNELS = Number(argAfter("-ac"));
/** Its sample rate (-ar), Hz. */
export const AUDIO_SAMPLE_RATE = Number(argAfter("-ar"));
/** Samples per AAC-LC frame. */
export const AAC_FRAME_SAMPLES = 1024;

function argAfter(flag: string): string {
  const value = AUDIO_ARGS[AUDIO_ARGS.indexOf(flag) + 1];
  if (!AUDIO_ARGS.includes(flag) || value === undefined) throw new Error(`AUDIO_ARGS lacks ${flag}`);
  return value;
}

function parseRate(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([kM]?)$/.exec(text);
  if (!match) throw new Error(`unexpected bit rate in AUDIO_ARGS: ${text}`);
  const scale = match[2] === "k" ? 1_000 : match[2] === "M" ? 1_000_000 : 1;
  return Number(match[1]) * scale;
}

/** Timestamps start at 0, holes in the source's audio become silence (see the module comment). */
export const AUDIO_FILTER = "aresample=async=1:first_pts=0";

/**
 * ffmpeg cuts the audio into pieces at the first AAC frame past every multiple of this (absolute times,
 * so nothing drifts): every video segment boundary (planChunks: 1, 2, 4, 6, 12, 18 s…) is within a
 * video frame of such a multiple, so the pieces can be joined into segments that end where the video's
 * do (process-job.ts), and a growing audio playlist never runs ahead of the video's.
 */
export const AUDIO_PIECE_SECONDS = 1;

/**
 * Pieces FFmpeg's audio playlist lists (the latest ones): 10 min of audio, which even a fast AAC encode
 * (~100x realtime) takes seconds to write, against encodeAudio's read of it every 200 ms.
 */
export const AUDIO_PLAYLIST_WINDOW = 600;

export interface AudioArgsInput {
  /** Source file path. */
  input: string;
  /** The video's output folder: audio goes to <outDir>/audio/. */
  outDir: string;
  /** Largest decoded frame allowed (-max_pixels), as for the ladder; ffmpeg's default when absent. */
  maxPixels?: number;
  /** Pieces FFmpeg's playlist lists (AUDIO_PLAYLIST_WINDOW unless given: tests slide it). */
  playlistWindow?: number;
}

/**
 * The source's first audio stream → AAC (AUDIO_ARGS) fMP4 HLS in <outDir>/audio/: init.mp4 and
 * seg_00001.m4s… of AUDIO_PIECE_SECONDS. FFmpeg rewrites its playlist (atomically, through a temporary
 * file) after every piece: encodeAudio reads it to report pieces as they complete. The playlist is a
 * sliding window of the last AUDIO_PLAYLIST_WINDOW pieces (the files all stay): listing every piece,
 * FFmpeg would write the whole list again after each of them, O(n²) (a 6-h video has 21 600 pieces:
 * ~8 GB of playlist writes). It is not the playlist we publish (playlists.ts writes that). Returns argv
 * without the binary.
 */
export function buildAudioArgs({ input, outDir, maxPixels, playlistWindow }: AudioArgsInput): string[] {
  if (outDir.includes("%")) throw new Error(`output folder must not contain "%": ${outDir}`);
  const dir = join(outDir.replace(/\/+$/, ""), AUDIO_FOLDER);
  return [
    "-hide_banner",
    "-nostdin",
    ...sourceInputArgs(maxPixels, input),
    "-y",
    "-i",
    input,
    "-map",
    "0:a:0",
    "-af",
    AUDIO_FILTER,
    ...AUDIO_ARGS,
    "-map_metadata",
    "-1",
    "-map_chapters",
    "-1",
    "-max_muxing_queue_size",
    "4096",
    // Keep the encoder's priming at pts -1024 so the mp4 muxer puts it in the edit list (see above).
    "-avoid_negative_ts",
    "disabled",
    "-f",
    "hls",
    "-hls_time",
    String(AUDIO_PIECE_SECONDS),
    "-hls_list_size",
    String(playlistWindow ?? AUDIO_PLAYLIST_WINDOW),
    "-hls_flags",
    "independent_segments+temp_file",
    "-hls_segment_type",
    "fmp4",
    "-hls_fmp4_init_filename",
    INIT_SEGMENT,
    "-start_number",
    "1",
    "-hls_segment_filename",
    join(dir, SEGMENT_PATTERN),
    join(dir, VARIANT_PLAYLIST),
  ];
}

/** The number in a segment name (seg_00042.m4s → 42), or null for any other name. */
function segmentNumber(uri: string): number | null {
  const match = /^seg_(\d+)\.m4s$/.exec(uri);
  return match ? Number(match[1]) : null;
}

/** A finished audio segment, stored under <outDir>/audio/. */
export interface AudioSegment {
  /** 1, 2, 3, … (seg_00001.m4s, …). */
  number: number;
  /** As FFmpeg measured it (EXTINF): AAC frames × 1024 / 48000 s. */
  durationSeconds: number;
  /** Path of the segment file. */
  path: string;
}

export interface EncodedAudio {
  /** <outDir>/audio. */
  dir: string;
  /** Path of init.mp4. */
  initPath: string;
  /** Every segment, in order. */
  segments: AudioSegment[];
}

/** What the ladder encode gets (see encode-ladder.ts), plus the progressive report. */
export interface EncodeAudioOptions
  extends Pick<
    RunFfmpegOptions,
    | "ffmpegPath"
    | "signal"
    | "stallTimeoutMs"
    | "timeoutMs"
    | "memoryLimitBytes"
    | "niceness"
    | "onStats"
    | "onProgress"
  > {
  /** Source duration in seconds, for onProgress. */
  durationSeconds?: number;
  /**
   * Called once per segment, in order, as soon as FFmpeg has finished it (init.mp4 is complete before
   * the first call), typically well before FFmpeg exits. Synchronous: queue uploads, don't await them
   * here. A throw stops the encode, which then rejects with that error.
   */
  onSegment?: (segment: AudioSegment) => void;
  /** How often FFmpeg's playlist is read while it runs (ms). */
  pollMs?: number;
}

/**
 * Encodes the source's first audio stream once for the whole video (buildAudioArgs) through
 * runFfmpeg, with the same deadline, stall and memory options as the ladder, reporting segments as they
 * complete. Empties <outDir>/audio first, so a retry starts clean. Resolves with every segment once
 * FFmpeg has exited and the last ones are reported.
 */
export async function encodeAudio(
  job: AudioArgsInput,
  options: EncodeAudioOptions = {},
): Promise<EncodedAudio> {
  const dir = join(job.outDir, AUDIO_FOLDER);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const playlistPath = join(dir, VARIANT_PLAYLIST);
  const segments: AudioSegment[] = [];
  const stop = new AbortController();

  /**
   * Reports the pieces the playlist lists beyond those reported already, in order. It lists only the
   * latest AUDIO_PLAYLIST_WINDOW: a piece that left it unreported is an error (never skipped).
   */
  const report = (text: string) => {
    const listed = parseMediaPlaylist(text).segments;
    const first = listed.length > 0 ? segmentNumber(listed[0]?.uri ?? "") : null;
    if (first !== null && first > segments.length + 1) {
      throw new Error(
        `audio segment ${segments.length + 1} left ${playlistPath} before it was read (it lists ${first} onwards)`,
      );
    }
    for (const [i, entry] of listed.entries()) {
      const number = (first ?? 1) + i;
      if (entry.uri !== segmentName(number)) {
        throw new Error(
          `unexpected audio segment ${entry.uri} in ${playlistPath}, expected ${segmentName(number)}`,
        );
      }
      if (number <= segments.length) continue;
      const segment = { number, durationSeconds: entry.duration, path: join(dir, entry.uri) };
      segments.push(segment);
      options.onSegment?.(segment);
    }
  };

  let polling: Promise<void> = Promise.resolve();
  const poll = async () => {
    let text: string;
    try {
      text = await readFile(playlistPath, "utf8");
    } catch {
      return; // not written yet: FFmpeg writes it after the first segment
    }
    try {
      report(text);
    } catch (err) {
      if (!stop.signal.aborted) stop.abort(err);
    }
  };
  const timer = setInterval(() => {
    polling = polling.then(poll);
  }, options.pollMs ?? 200);

  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  try {
    await runFfmpeg(buildAudioArgs(job), {
      ffmpegPath: options.ffmpegPath,
      signal,
      durationSeconds: options.durationSeconds,
      stallTimeoutMs: options.stallTimeoutMs,
      timeoutMs: options.timeoutMs,
      memoryLimitBytes: options.memoryLimitBytes,
      niceness: options.niceness,
      onStats: options.onStats,
      onProgress: options.onProgress,
    });
  } finally {
    clearInterval(timer);
    await polling;
  }
  await normalizeInitSegment(dir);
  report(await readFile(playlistPath, "utf8"));
  if (segments.length === 0) throw new Error(`ffmpeg wrote no audio segment in ${dir}`);
  return { dir, initPath: join(dir, INIT_SEGMENT), segments };
}
