/**
 * The published ladder as local files, read back from storage after the last segment is stored and
 * before the video turns ready: what the checks before publishing, the I-frame playlists, the DASH
 * manifest, the storyboard, the download MP4 and the quality measurement all work from.
 */

/** One track (a video rung or the audio) exactly as published: its init and segments, in order. */
export interface LocalTrack {
  /** Its folder name: "720p", "audio". */
  name: string;
  /** The init section (ftyp+moov). */
  initPath: string;
  /** Media segments in playlist order (seg_00001.m4s first). */
  segmentPaths: string[];
  /** Each segment's EXTINF duration in seconds, as its playlist lists it (same order). */
  durations: number[];
}

/** A video rung as published: its track plus what the master playlist says of it. */
export interface LocalRung extends LocalTrack {
  width: number;
  height: number;
  /** The video CODECS value the master playlist carries, e.g. "avc1.640028". */
  codecs: string;
  frameRate: number;
}

/** The whole ladder, rungs tallest first, audio when the source has it. */
export interface LocalLadder {
  rungs: LocalRung[];
  audio: LocalTrack | null;
  /** The target segment duration the playlists declare (EXT-X-TARGETDURATION), seconds. */
  targetSeconds: number;
}

/** How ffmpeg/ffprobe runs for these steps: sandboxed, time- and memory-bounded (run-ffmpeg.ts). */
export interface DeliveryToolOptions {
  ffmpegPath?: string;
  ffprobePath?: string;
  signal?: AbortSignal;
  /** Wall-clock bound for each ffmpeg run. */
  timeoutMs: number;
  memoryLimitBytes?: number;
  /** Where scratch files go (the job's temp folder); the system's temp folder when absent. */
  scratchDir?: string;
}
