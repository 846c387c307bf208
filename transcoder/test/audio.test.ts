import { statSync } from "node:fs";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AUDIO_FOLDER, INIT_SEGMENT, segmentName, VARIANT_PLAYLIST } from "@streamlet/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AAC_FRAME_SAMPLES,
  AUDIO_BITRATE,
  AUDIO_CHANNELS,
  AUDIO_PLAYLIST_WINDOW,
  AUDIO_SAMPLE_RATE,
  type AudioSegment,
  buildAudioArgs,
  type EncodedAudio,
  encodeAudio,
} from "../src/media/audio.ts";
import { sourceInputArgs } from "../src/media/confine.ts";
import { AUDIO_ARGS } from "../src/media/ffmpeg-args.ts";
import { variantPlaylist } from "../src/media/playlists.ts";
import { execTool, FfmpegError } from "../src/media/run-ffmpeg.ts";

const SOURCE_SECONDS = 30;
/** Tones start at these times (0.5 s each): 2, 10, 18, 26. */
const ONSETS = [2, 10, 18, 26];
const FRAME_SECONDS = AAC_FRAME_SAMPLES / 48_000;

async function ffmpeg(args: string[]): Promise<string> {
  const run = await execTool("ffmpeg", ["-hide_banner", "-nostdin", ...args]);
  if (run.code !== 0) throw new Error(`ffmpeg failed: ${run.stderr.slice(-2000)}`);
  return run.stderr;
}

async function ffprobe(args: string[]): Promise<string> {
  const run = await execTool("ffprobe", ["-v", "error", ...args]);
  if (run.code !== 0) throw new Error(`ffprobe failed: ${run.stderr.slice(-2000)}`);
  return run.stdout;
}

/** The edit list of init.mp4's (only) track: [segment_duration, media_time] per entry. */
function editList(init: Buffer): [number, number][] {
  const at = init.indexOf("elst");
  if (at < 0) return [];
  const version = init.readUInt8(at + 4);
  const count = init.readUInt32BE(at + 8);
  const entries: [number, number][] = [];
  let p = at + 12;
  for (let i = 0; i < count; i++) {
    if (version === 1) {
      entries.push([Number(init.readBigUInt64BE(p)), Number(init.readBigInt64BE(p + 8))]);
      p += 20;
    } else {
      entries.push([init.readUInt32BE(p), init.readInt32BE(p + 4)]);
      p += 12;
    }
  }
  return entries;
}

describe("buildAudioArgs", () => {
  const args = buildAudioArgs({ input: "/w/source", outDir: "/w/out/", maxPixels: 1000 });

  it("confines the input, maps the first audio stream only and encodes it with AUDIO_ARGS", () => {
    const input = args.indexOf("-i");
    expect(args.slice(2, 2 + sourceInputArgs(1000).length)).toEqual(sourceInputArgs(1000));
    expect(args[input + 1]).toBe("/w/source");
    expect(args.slice(input + 2, input + 6)).toEqual([
      "-map",
      "0:a:0",
      "-af",
      "aresample=async=1:first_pts=0",
    ]);
    const at = args.indexOf("-c:a");
    expect(args.slice(at, at + AUDIO_ARGS.length)).toEqual(AUDIO_ARGS);
  });

  it("keeps the encoder delay for the edit list and writes fMP4 HLS into <outDir>/audio", () => {
    expect(args[args.indexOf("-avoid_negative_ts") + 1]).toBe("disabled");
    expect(args[args.indexOf("-hls_segment_type") + 1]).toBe("fmp4");
    // A sliding window (the files stay): listing all of them, ffmpeg rewrites the whole list per piece.
    expect(args[args.indexOf("-hls_list_size") + 1]).toBe(String(AUDIO_PLAYLIST_WINDOW));
    expect(args).not.toContain("-hls_playlist_type");
    expect(args[args.indexOf("-hls_fmp4_init_filename") + 1]).toBe(INIT_SEGMENT);
    expect(args[args.indexOf("-start_number") + 1]).toBe("1");
    expect(args[args.indexOf("-hls_segment_filename") + 1]).toBe(`/w/out/${AUDIO_FOLDER}/seg_%05d.m4s`);
    expect(args.at(-1)).toBe(`/w/out/${AUDIO_FOLDER}/${VARIANT_PLAYLIST}`);
  });

  it("derives the nominal figures from AUDIO_ARGS", () => {
    expect([AUDIO_BITRATE, AUDIO_CHANNELS, AUDIO_SAMPLE_RATE]).toEqual([128_000, 2, 48_000]);
  });
});

describe("encodeAudio (real ffmpeg)", () => {
  let work: string;
  let encoded: EncodedAudio;
  const reports: { segment: AudioSegment; processedSeconds: number; fileBytes: number; initBytes: number }[] =
    [];
  let processedSeconds = 0;
  let vod: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "audio-test-"));
    const source = join(work, "source.mkv");
    // 44.1 kHz PCM (resampled to 48 kHz by the encode) beside a small video stream that must be ignored.
    await ffmpeg([
      "-v",
      "error",
      "-f",
      "lavfi",
      "-i",
      `testsrc2=size=64x64:rate=30:duration=${SOURCE_SECONDS}`,
      "-f",
      "lavfi",
      "-i",
      `aevalsrc='if(between(mod(t\\,8)\\,2\\,2.5)\\,0.5*sin(2*PI*1000*t)\\,0)':s=44100:d=${SOURCE_SECONDS}`,
      "-c:v",
      "libx264",
      "-preset",
      "ultrafast",
      "-c:a",
      "pcm_s16le",
      source,
    ]);
    // Reads the input at 15x realtime (2 s for 30 s) so the progressive report is observable even
    // though an audio encode is otherwise over in a fraction of a second.
    const slowFfmpeg = join(work, "slow-ffmpeg.sh");
    await writeFile(slowFfmpeg, '#!/bin/sh\nexec ffmpeg -readrate 15 "$@"\n');
    await chmod(slowFfmpeg, 0o755);
    encoded = await encodeAudio(
      { input: source, outDir: join(work, "out"), playlistWindow: 4 },
      {
        ffmpegPath: slowFfmpeg,
        durationSeconds: SOURCE_SECONDS,
        timeoutMs: 60_000,
        stallTimeoutMs: 20_000,
        pollMs: 50,
        // A window of 4 pieces (AUDIO_PLAYLIST_WINDOW is 600) so that 30 of them slide through it.
        onStats: (s) => {
          processedSeconds = s.seconds;
        },
        onSegment: (segment) => {
          const init = join(work, "out", AUDIO_FOLDER, INIT_SEGMENT);
          reports.push({
            segment,
            processedSeconds,
            fileBytes: statSync(segment.path).size,
            initBytes: statSync(init).size,
          });
        },
      },
    );
    vod = join(encoded.dir, "vod.m3u8");
    const segments = encoded.segments.map((s) => ({ number: s.number, durationSeconds: s.durationSeconds }));
    await writeFile(vod, variantPlaylist({ segments, complete: true, plannedMaxSegmentSeconds: 6 }));
  }, 30_000);

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("reports every segment once, in order, the first ones while ffmpeg is still encoding", () => {
    expect(encoded.segments.map((s) => s.number)).toEqual(encoded.segments.map((_, i) => i + 1));
    expect(reports.map((r) => r.segment)).toEqual(encoded.segments);
    // ~1-s pieces (AUDIO_PIECE_SECONDS): 30 s of audio is 30 of them plus, at most, one short tail.
    expect(encoded.segments.length).toBeGreaterThanOrEqual(30);
    expect(encoded.segments.length).toBeLessThanOrEqual(31);
    // Segment 1 was reported when ffmpeg had processed well under the whole source.
    expect(reports[0]?.processedSeconds).toBeLessThan(SOURCE_SECONDS / 2);
    expect(reports[1]?.processedSeconds).toBeLessThan(SOURCE_SECONDS);
    for (const r of reports) {
      expect(r.fileBytes).toBeGreaterThan(0);
      expect(r.initBytes).toBeGreaterThan(0);
    }
  });

  it("reads every piece through a playlist that lists only the latest few", async () => {
    const listed = (await readFile(join(encoded.dir, VARIANT_PLAYLIST), "utf8"))
      .split("\n")
      .filter((l) => l.startsWith("seg_"));
    expect(listed).toEqual(encoded.segments.slice(-4).map((s) => segmentName(s.number)));
  });

  it("fails, never skips, when pieces leave the playlist before they were read", async () => {
    const failed = encodeAudio(
      { input: join(work, "source.mkv"), outDir: join(work, "out-window"), playlistWindow: 2 },
      { pollMs: 60_000, timeoutMs: 60_000 },
    );
    await expect(failed).rejects.toThrow(
      /audio segment 1 left .* before it was read \(it lists \d+ onwards\)/,
    );
  });

  it("writes init.mp4 with the AAC encoder delay as its edit (media_time 1024 at 48 kHz)", async () => {
    const init = await readFile(encoded.initPath);
    expect(editList(init)).toEqual([[0, AAC_FRAME_SAMPLES]]);
  });

  it("decodes back to back from the VOD playlist: priming at -1024, then 0, 1024, … without a gap", async () => {
    const out = await ffprobe([
      "-select_streams",
      "a:0",
      "-show_entries",
      "packet=pts:stream=start_time,codec_name,sample_rate,channels",
      "-of",
      "json",
      vod,
    ]);
    const parsed = JSON.parse(out) as {
      packets: { pts: number }[];
      streams: { codec_name: string; sample_rate: string; channels: number; start_time: string }[];
    };
    expect(parsed.streams[0]).toMatchObject({ codec_name: "aac", sample_rate: "48000", channels: 2 });
    // The first packet is the encoder's priming, before 0; the edit list makes the presentation start at 0.
    expect(Number(parsed.streams[0]?.start_time)).toBeCloseTo(-FRAME_SECONDS, 6);
    const pts = parsed.packets.map((p) => p.pts);
    expect(pts[0]).toBe(-AAC_FRAME_SAMPLES);
    expect(pts[1]).toBe(0);
    const gaps = pts.slice(1).filter((p, i) => p - (pts[i] as number) !== AAC_FRAME_SAMPLES);
    expect(gaps).toEqual([]);
    // The presentation (from 0 to the end of the last frame) lasts as long as the source, within a frame.
    const end = ((pts.at(-1) as number) + AAC_FRAME_SAMPLES) / 48_000;
    expect(Math.abs(end - SOURCE_SECONDS)).toBeLessThanOrEqual(FRAME_SECONDS);
    // The playlist's EXTINFs add up to every frame, priming included.
    const listed = encoded.segments.reduce((sum, s) => sum + s.durationSeconds, 0);
    expect(listed).toBeCloseTo((pts.length * AAC_FRAME_SAMPLES) / 48_000, 4);
  });

  it("plays every tone at its source time (within 1 ms, no drift over 30 s)", async () => {
    // -copyts: keep the stream's own timestamps (ffmpeg would otherwise shift them by start_time).
    const stderr = await ffmpeg([
      "-copyts",
      "-i",
      vod,
      "-af",
      "silencedetect=n=-30dB:d=0.2",
      "-f",
      "null",
      "-",
    ]);
    const onsets = [...stderr.matchAll(/silence_end: ([\d.]+)/g)].map((m) => Number(m[1]));
    expect(onsets.slice(0, ONSETS.length)).toHaveLength(ONSETS.length);
    ONSETS.forEach((t, i) => {
      expect(Math.abs((onsets[i] as number) - t)).toBeLessThan(0.001);
    });
  });

  it("plays through ffmpeg from the VOD playlist without an error", async () => {
    const run = await execTool("ffmpeg", ["-v", "error", "-nostdin", "-i", vod, "-f", "null", "-"]);
    expect(run.code).toBe(0);
    expect(run.stderr.trim()).toBe("");
  });

  it("fails clearly for a source without audio (callers don't call it then)", async () => {
    const silent = join(work, "video-only.mkv");
    await ffmpeg(["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=30:duration=1", silent]);
    const failed = encodeAudio({ input: silent, outDir: join(work, "out2") });
    await expect(failed).rejects.toBeInstanceOf(FfmpegError);
    await expect(failed).rejects.toMatchObject({
      stderrTail: expect.arrayContaining([expect.stringMatching(/0:a:0.*matches no streams/)]),
    });
  });
});
