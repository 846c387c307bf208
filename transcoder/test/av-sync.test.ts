/**
 * Issue 11, "Correct joins": over a long clip encoded in several chunks (so several chunk joins), the
 * audio rendition (encoded once, apart from the video) stays in sync with the video within one video
 * frame. The source is 40 s of black with one white frame every 5 s (2.5, 7.5, … 37.5 s) and silence
 * with a 100 ms 1 kHz beep starting at exactly the same instants; H.264 with B-frames, so the stored
 * video fMP4 carries negative composition offsets (trun version 1, no edit list) while the audio init
 * carries an edit list for the AAC priming. A real transcode (processJob, x264, 6 s chunks) stores it
 * in a real S3 server (s3rver); we then measure, from what is stored:
 *  1. flash times in the top rung alone (init + segments, decoded by ffmpeg),
 *  2. beep onsets in the audio rendition alone (init + segments),
 *  3. both on the common timeline a player uses: the master playlist read over HTTP by ffmpeg's HLS
 *     demuxer, which demuxes the variant and the audio rendition together.
 * Every beep must start within one frame (1/30 s) of its flash on the common timeline (3).
 *
 * Which timeline. FFmpeg finds the flash frames (decoding), but its mov demuxer stamps every picture
 * of a file with negative composition offsets late by the most negative offset (its dts_shift, here two
 * frames, 66.7 ms), so ffmpeg alone reports the video 66.7 ms behind the sound. The file format says
 * otherwise (composition time = decode time + offset, first frame at 0), and so does a browser: in
 * Chromium 156 with hls.js playing this master, requestVideoFrameCallback reports the flash frames at
 * mediaTime 2.5, 7.5, … exactly, an MSE SourceBuffer with timestampOffset 1 buffers the rung from 1.000 s
 * and the audio from 0.978667 s (its edit list applied: 1024 priming samples before 0). So a flash's
 * time here is its frame's composition time, read from the stored fragments; the test also pins
 * ffmpeg's reading at exactly that plus its dts_shift, so a change on either side shows.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { outputPrefix, sourceKey } from "@streamlet/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../src/log.ts";
import { parseBox, readBoxes, readFragment, readTrackInfo } from "../src/media/chunks/fmp4.ts";
import {
  type OpenProgress,
  type ProcessDeps,
  processJob,
  type TranscodeJobLike,
} from "../src/process-job.ts";
import { createStorage } from "../src/storage.ts";
import { testId } from "./helpers/ids.ts";
import { silentPublisher } from "./helpers/progress.ts";
import { startS3, type TestS3 } from "./helpers/s3.ts";

const run = promisify(execFile);

const FPS = 30;
const FRAME = 1 / FPS;
const DURATION = 40;
const PERIOD = 5;
const FIRST = 2.5;
/** The instants of the flashes and beep onsets in the source: 2.5, 7.5, … 37.5 s. */
const MARKS = Array.from({ length: DURATION / PERIOD }, (_, i) => FIRST + i * PERIOD);
const LADDER = [
  { height: 360, videoBitrate: 800_000, maxBitrate: 1_200_000 },
  { height: 180, videoBitrate: 250_000, maxBitrate: 400_000 },
];
const TOP = "360p";
const VIDEO_ID = testId("vid_av_sync");

let s3: TestS3;
let dir: string;
let out: string;
let keys: string[];

/** Black with a white frame every 5 s (frame 75 + 150k), silence with a 100 ms beep at the same instants. */
async function makeSource(file: string) {
  const flash = `eq(mod(n\\,${PERIOD * FPS})\\,${FIRST * FPS})`;
  const beep = `0.5*sin(2*PI*1000*t)*gte(mod(t\\,${PERIOD})\\,${FIRST})*lt(mod(t\\,${PERIOD})\\,${FIRST + 0.1})`;
  await run("ffmpeg", [
    ...["-v", "error", "-y", "-f", "lavfi"],
    ...[
      "-i",
      `color=c=black:s=640x360:r=${FPS},format=yuv420p,drawbox=w=iw:h=ih:color=white:t=fill:enable='${flash}'`,
    ],
    ...["-f", "lavfi", "-i", `aevalsrc='${beep}':s=48000`, "-t", String(DURATION)],
    // veryfast (not ultrafast) so the video has B-frames and hence composition offsets.
    ...["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac"],
    ...["-movflags", "+faststart", file],
  ]);
}

function deps(workDir: string): ProcessDeps {
  const openProgress: OpenProgress = () => silentPublisher();
  return {
    storage: createStorage(s3.config, { baseDelayMs: 5 }),
    openProgress,
    log: createLogger({}, () => {}),
    workDir,
    ffmpegPath: "ffmpeg",
    ffprobePath: "ffprobe",
    encoder: { kind: "x264", preset: "veryfast" },
    segmentPollMs: 20,
    // Segments of 1, 1, 2, 2, then 6 s; chunks start at 0, 1, 6, 12, … 36 s: eight chunks, seven joins.
    chunkSeconds: 6,
  };
}

function job(videoId: string): TranscodeJobLike {
  return {
    id: videoId,
    data: {
      videoId,
      ownerId: testId("owner"),
      input: { key: sourceKey(videoId) },
      output: { prefix: outputPrefix(videoId), ladder: LADDER },
      progressToken: `token-${videoId}`,
    },
    attemptsMade: 0,
    attemptsStarted: 1,
    opts: { attempts: 3 },
  };
}

/** A rendition's init and segments (in playlist order) joined into one fragmented MP4. */
async function joined(folder: string): Promise<string> {
  const playlist = await readFile(join(out, folder, "index.m3u8"), "utf8");
  const segments = playlist.split("\n").filter((l) => l.endsWith(".m4s"));
  const parts = await Promise.all(["init.mp4", ...segments].map((name) => readFile(join(out, folder, name))));
  const file = join(dir, `${folder}.mp4`);
  await writeFile(file, Buffer.concat(parts));
  return file;
}

interface Printed {
  /** The filter's frame number: the frame's place in presentation order, from 0. */
  frame: number;
  /** Its timestamp as the demuxer gave it. */
  time: number;
  value: number;
}

/** "frame:N pts:P pts_time:T" then "key=value" lines, as metadata=print writes them. */
function printed(text: string, key: string): Printed[] {
  const found: Printed[] = [];
  let frame = Number.NaN;
  let time = Number.NaN;
  for (const line of text.split("\n")) {
    const head = /^frame:(\d+)\s+pts:\S+\s+pts_time:(-?[\d.]+)/.exec(line);
    if (head) [frame, time] = [Number(head[1]), Number(head[2])];
    if (line.startsWith(`${key}=`)) found.push({ frame, time, value: Number(line.slice(key.length + 1)) });
  }
  return found;
}

/** Frames whose mean luma is high (the flashes). */
function flashFrames(text: string): Printed[] {
  return printed(text, "lavfi.signalstats.YAVG").filter((p) => p.value > 128);
}

/** Where the silence ends (the beep onsets), short of the stream's own end. */
function beepTimes(text: string): number[] {
  return printed(text, "lavfi.silence_end")
    .map((p) => p.value)
    .filter((end) => end < DURATION - 0.5);
}

const VIDEO_FILTER = "signalstats,metadata=mode=print:key=lavfi.signalstats.YAVG:file=";
const AUDIO_FILTER = "silencedetect=n=-30dB:d=0.05,ametadata=mode=print:key=lavfi.silence_end:file=";

/** Runs ffmpeg with the filters printing into files; -copyts keeps the demuxer's own timestamps. */
async function measure(input: string[], graph: (vfile: string, afile: string) => string[]) {
  const vfile = join(dir, `v-${Math.random().toString(36).slice(2)}.txt`);
  const afile = join(dir, `a-${Math.random().toString(36).slice(2)}.txt`);
  await run("ffmpeg", [
    "-v",
    "error",
    "-nostdin",
    "-copyts",
    ...input,
    ...graph(vfile, afile),
    "-f",
    "null",
    "-",
  ]);
  const read = (f: string) => readFile(f, "utf8").catch(() => "");
  const frames = printed(await read(vfile), "lavfi.signalstats.YAVG").length;
  return { frames, flashes: flashFrames(await read(vfile)), beeps: beepTimes(await read(afile)) };
}

/** For each source instant, the measured time nearest to it. */
function nearest<T>(items: T[], time: (item: T) => number): T[] {
  return MARKS.map((mark) => {
    const best = items.reduce<T | undefined>(
      (b, x) => (b === undefined || Math.abs(time(x) - mark) < Math.abs(time(b) - mark) ? x : b),
      undefined,
    );
    if (best === undefined) throw new Error(`nothing measured near ${mark} s`);
    return best;
  });
}

/**
 * Every frame's presentation time as the file format defines it (ISO/IEC 14496-12: composition time =
 * decode time + composition offset; the video init has no edit list), in presentation order, and the
 * most negative composition offset met (seconds). This is what MSE in a browser computes.
 */
async function compositionTimes(folder: string) {
  const init = await readFile(join(out, folder, "init.mp4"));
  const track = readTrackInfo(init);
  const playlist = await readFile(join(out, folder, "index.m3u8"), "utf8");
  const times: number[] = [];
  let minOffset = 0;
  for (const name of playlist.split("\n").filter((l) => l.endsWith(".m4s"))) {
    const segment = await readFile(join(out, folder, name));
    const boxes = readBoxes(segment);
    for (const [i, box] of boxes.entries()) {
      if (box.type !== "moof") continue;
      const mdat = boxes[i + 1];
      if (mdat?.type !== "mdat") throw new Error(`${folder}/${name}: moof without mdat`);
      const f = readFragment(segment.subarray(box.start, mdat.end), track);
      let decode = Number(f.baseMediaDecodeTime);
      for (const [k, duration] of f.durations.entries()) {
        const offset = f.compositionOffsets[k] ?? 0;
        times.push((decode + offset) / track.timescale);
        minOffset = Math.min(minOffset, offset);
        decode += duration;
      }
    }
  }
  return { times: times.sort((a, b) => a - b), minOffset: minOffset / track.timescale };
}

const ms = (s: number) => `${(s * 1000).toFixed(1)} ms`;

/** The edit list of an init segment's track, as [segment_duration, media_time][] (none: []). */
function editList(init: Buffer): [number, number][] {
  const find = (
    nodes: ReturnType<typeof parseBox>[],
    type: string,
  ): ReturnType<typeof parseBox> | undefined => {
    for (const n of nodes) {
      if (n.type === type) return n;
      const inner = n.children && find(n.children, type);
      if (inner) return inner;
    }
  };
  const elst = find(
    readBoxes(init).map((ref) => parseBox(init, ref)),
    "elst",
  )?.payload;
  if (!elst) return [];
  const version = elst[0];
  const entries: [number, number][] = [];
  for (let i = 0, at = 8; i < elst.readUInt32BE(4); i++) {
    if (version === 1) {
      entries.push([Number(elst.readBigUInt64BE(at)), Number(elst.readBigInt64BE(at + 8))]);
      at += 20;
    } else {
      entries.push([elst.readUInt32BE(at), elst.readInt32BE(at + 4)]);
      at += 12;
    }
  }
  return entries;
}

async function ffprobe(args: string[]): Promise<string> {
  return (await run("ffprobe", ["-v", "error", ...args])).stdout.trim();
}

beforeAll(async () => {
  s3 = await startS3();
  dir = await mkdtemp(join(tmpdir(), "streamlet-av-sync-"));
  out = join(dir, "out");
  const workDir = join(dir, "work");
  await mkdir(workDir, { recursive: true });
  const source = join(dir, "source.mp4");
  await makeSource(source);
  await createStorage(s3.config).putBody(sourceKey(VIDEO_ID), await readFile(source), "video/mp4");
  await processJob(job(VIDEO_ID), deps(workDir));

  const prefix = outputPrefix(VIDEO_ID);
  keys = await s3.list(prefix);
  for (const key of keys) {
    const res = await s3.get(key);
    if (res.status !== 200) throw new Error(`GET ${key}: ${res.status}`);
    const file = join(out, key.slice(prefix.length));
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, Buffer.from(await res.arrayBuffer()));
  }
}, 240_000);

afterAll(async () => {
  await s3?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("A/V sync across chunk joins", () => {
  it("stores a top rung in several chunks and an audio rendition beside it", async () => {
    const segments = keys.filter((k) => k.includes(`/${TOP}/seg_`));
    // Ten segments (1, 1, 2, 2, 6 … 6, 4 s) from eight chunks joined at 1, 6, 12, … 36 s.
    expect(segments).toHaveLength(10);
    expect(keys.some((k) => k.endsWith("/audio/init.mp4"))).toBe(true);
    const master = await readFile(join(out, "master.m3u8"), "utf8");
    expect(master).toContain('URI="audio/index.m3u8"');
  });

  it("keeps every beep within one frame of its flash, in each track and through the master playlist", async () => {
    const videoFile = await joined(TOP);
    const audioFile = await joined("audio");

    // Timestamps as stored, for the report: first video packets/frames, stream starts, edit lists.
    const packets = await ffprobe([
      ...["-select_streams", "v:0", "-read_intervals", "%+#6", "-show_entries", "packet=pts_time,dts_time"],
      ...["-of", "csv=p=0", videoFile],
    ]);
    const firstFrame = await ffprobe([
      ...["-select_streams", "v:0", "-read_intervals", "%+#1", "-show_entries", "frame=pts_time"],
      ...["-of", "csv=p=0", videoFile],
    ]);
    const starts = {
      video: await ffprobe(["-show_entries", "stream=start_time", "-of", "csv=p=0", videoFile]),
      audio: await ffprobe(["-show_entries", "stream=start_time", "-of", "csv=p=0", audioFile]),
    };
    const edits = {
      video: editList(await readFile(join(out, TOP, "init.mp4"))),
      audio: editList(await readFile(join(out, "audio", "init.mp4"))),
    };
    console.info(
      [
        `first ${TOP} packets (pts,dts): ${packets.split("\n").join(" | ")}`,
        `first ${TOP} frame pts: ${firstFrame}`,
        `stream start_time: video ${starts.video}, audio ${starts.audio}`,
        `edit lists [duration, media_time]: video ${JSON.stringify(edits.video)}, audio ${JSON.stringify(edits.audio)}`,
      ].join("\n"),
    );

    // (1) and (2): each track alone, against the source's instants.
    const video = await measure(["-i", videoFile], (v) => ["-vf", `${VIDEO_FILTER}${v}`, "-an"]);
    const audio = await measure(["-i", audioFile], (_, a) => ["-af", `${AUDIO_FILTER}${a}`, "-vn"]);

    // (3): what a player sees, video and audio demuxed together from the master over HTTP.
    const url = `${s3.config.endpoint}/${s3.config.bucket}/${outputPrefix(VIDEO_ID)}master.m3u8`;
    const streams = await ffprobe(["-show_entries", "stream=index,codec_type,height", "-of", "csv=p=0", url]);
    const topIndex = streams
      .split("\n")
      .map((l) => l.split(","))
      .find(([, type, height]) => type === "video" && height === "360")?.[0];
    const audioIndex = streams
      .split("\n")
      .map((l) => l.split(","))
      .find(([, type]) => type === "audio")?.[0];
    expect(topIndex, streams).toBeDefined();
    expect(audioIndex, streams).toBeDefined();
    const player = await measure(["-i", url], (v, a) => [
      "-filter_complex",
      `[0:${topIndex}]${VIDEO_FILTER}${v};[0:${audioIndex}]${AUDIO_FILTER}${a}`,
    ]);

    // The flash frames are found by decoding; the time a player shows each at is its composition time.
    const stored = await compositionTimes(TOP);
    const at = (p: Printed) => stored.times[p.frame] as number;
    // FFmpeg's mov demuxer shows a picture at decode time + offset + dts_shift, dts_shift being the most
    // negative offset read so far (mov.c: pkt->pts = pkt->dts + sc->dts_shift + ctts): pictures from a
    // file with negative offsets and no edit list come out that much late, the sound not.
    const dtsShift = -stored.minOffset;

    const v1 = nearest(video.flashes, (p) => p.time);
    const a2 = nearest(audio.beeps, (t) => t);
    const v3 = nearest(player.flashes, (p) => p.time);
    const a3 = nearest(player.beeps, (t) => t);
    const rows = MARKS.map((mark, i) => {
      const [f1, b2, f3, b3] = [v1[i], a2[i], v3[i], a3[i]] as [Printed, number, Printed, number];
      return { mark, f1, b2, f3, b3 };
    });
    console.info(
      [
        `${TOP}: ${stored.times.length} frames stored, first composition time ${stored.times[0]} s, ` +
          `most negative composition offset ${ms(stored.minOffset)} (FFmpeg's dts_shift ${ms(dtsShift)})`,
        "mark   | (1) flash: ffmpeg pts / composition time | (2) beep | (2)-(1) ffmpeg / stored | " +
          "(3) master: flash ffmpeg pts / composition time, beep | (3) beep-flash ffmpeg / player",
        ...rows.map(
          (r) =>
            `${r.mark.toFixed(1)} s | ${r.f1.time.toFixed(4)} / ${at(r.f1).toFixed(4)} | ${r.b2.toFixed(4)} | ` +
            `${ms(r.b2 - r.f1.time)} / ${ms(r.b2 - at(r.f1))} | ` +
            `${r.f3.time.toFixed(4)} / ${at(r.f3).toFixed(4)}, ${r.b3.toFixed(4)} | ` +
            `${ms(r.b3 - r.f3.time)} / ${ms(r.b3 - at(r.f3))}`,
        ),
      ].join("\n"),
    );

    // Every frame decoded, one flash and one beep per instant, nothing else, in every reading.
    expect(video.frames).toBe(DURATION * FPS);
    expect(player.frames).toBe(DURATION * FPS);
    expect(stored.times).toHaveLength(DURATION * FPS);
    expect(stored.times[0]).toBe(0);
    for (const found of [video.flashes, audio.beeps, player.flashes, player.beeps]) {
      expect(found).toHaveLength(MARKS.length);
    }
    for (const r of rows) {
      // What a player shows: the beep starts within one frame of its flash on the master's timeline.
      expect(Math.abs(r.b3 - at(r.f3)), `${r.mark} s via the master`).toBeLessThanOrEqual(FRAME);
      // Each track alone at the source's instant: the flash on its frame, the beep on time.
      expect(Math.abs(at(r.f1) - r.mark), `${r.mark} s flash in ${TOP}`).toBeLessThanOrEqual(FRAME);
      expect(Math.abs(r.b2 - r.mark), `${r.mark} s beep in audio`).toBeLessThanOrEqual(FRAME);
      // The master's timeline is the tracks' own (no offset between renditions): same frames, same times.
      expect(r.f3.frame).toBe(r.f1.frame);
      expect(r.f3.time).toBeCloseTo(r.f1.time, 3);
      expect(r.b3).toBeCloseTo(r.b2, 3);
      // FFmpeg's own reading is late by exactly its dts_shift: an artefact of the reader, not the file.
      expect(r.f1.time - at(r.f1)).toBeCloseTo(dtsShift, 3);
    }
  }, 120_000);
});
