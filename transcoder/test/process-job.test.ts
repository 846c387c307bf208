import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { outputPrefix, ProgressEvent, SEQ_EPOCH, sourceKey } from "@streamlet/shared";
import { UnrecoverableError } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { noise } from "../../scripts/stack/noise.ts";
import { createSourceCache } from "../src/chunked/source-cache.ts";
import { JobCancelledError } from "../src/errors.ts";
import { createLogger } from "../src/log.ts";
import { BAD_MEDIA } from "../src/media/probe.ts";
import { FfmpegDeadlineError } from "../src/media/run-ffmpeg.ts";
import { SessionBudget } from "../src/nvenc-budget.ts";
import {
  classifyError,
  type OpenProgress,
  type ProcessDeps,
  processJob,
  type TranscodeJobLike,
} from "../src/process-job.ts";
import {
  createProgressPublisher,
  ProgressAckTimeoutError,
  type ProgressPublisher,
  type ProgressUpdate,
  type TerminalUpdate,
} from "../src/progress-publisher.ts";
import { createStorage } from "../src/storage.ts";
import { startFakeDo, waitUntil } from "./helpers/fake-do.ts";
import { testId } from "./helpers/ids.ts";
import { startS3, type TestS3 } from "./helpers/s3.ts";

const run = promisify(execFile);
/**
 * The encoder these tests run with: picture quality is asserted nowhere here, so the fastest x264 preset
 * that still writes High-profile H.264 (ultrafast would be Constrained Baseline: avc1.42…, not the
 * production codecs string). Tests that act while an encode is still running keep production's preset.
 */
const X264 = { kind: "x264", preset: "superfast" } as const;
const X264_PRODUCTION = { kind: "x264", preset: "veryfast" } as const;
const LADDER = [
  { height: 360, videoBitrate: 800_000, maxBitrate: 1_200_000 },
  { height: 180, videoBitrate: 250_000, maxBitrate: 400_000 },
];

let s3: TestS3;
let dir: string;
let workDir: string;
let clip: Buffer;

beforeAll(async () => {
  s3 = await startS3();
  dir = await mkdtemp(join(tmpdir(), "streamlet-process-"));
  workDir = join(dir, "work");
  await run("mkdir", ["-p", workDir]);
  const file = join(dir, "clip.mp4");
  await run("ffmpeg", [
    ...["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"],
    ...["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "7"],
    ...["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"],
    ...["-movflags", "+faststart", file],
  ]);
  clip = await readFile(file);
}, 60_000);

afterAll(async () => {
  await s3.close();
  await rm(dir, { recursive: true, force: true });
});

type Recorded = ProgressUpdate & { finished?: true };

/**
 * A publisher that records every event (no throttle) and answers finish() as told. `onPublish` may
 * cancel the job as the edge does when the video is deleted (the real socket path is tested below).
 */
function recorder(
  finish: (update: TerminalUpdate) => Promise<void> = async () => {},
  onPublish?: (update: ProgressUpdate, cancel: () => void) => void,
) {
  const events: Recorded[] = [];
  const channels: { videoId: string; token: string; attempt: number }[] = [];
  let closed = 0;
  const openProgress: OpenProgress = (channel) => {
    channels.push(channel);
    const cancellation = new AbortController();
    const cancel = () => cancellation.abort(new JobCancelledError("the video was deleted"));
    const publisher: ProgressPublisher = {
      publish: (update) => {
        events.push(structuredClone(update));
        onPublish?.(update, cancel);
      },
      finish: (update) => {
        events.push({ ...update, finished: true });
        return finish(update);
      },
      close: () => {
        closed += 1;
      },
      unacked: 0,
      refusal: null,
      cancelled: cancellation.signal,
    };
    return publisher;
  };
  return { openProgress, events, channels, closedCount: () => closed };
}

function harness(
  overrides: Partial<ProcessDeps> = {},
  finish?: (update: TerminalUpdate) => Promise<void>,
  onPublish?: (update: ProgressUpdate, cancel: () => void) => void,
) {
  const rec = recorder(finish, onPublish);
  const logs: string[] = [];
  const deps: ProcessDeps = {
    storage: createStorage(s3.config, { baseDelayMs: 5 }),
    openProgress: rec.openProgress,
    log: createLogger({}, (line) => logs.push(line)),
    workDir,
    ffmpegPath: "ffmpeg",
    ffprobePath: "ffprobe",
    encoder: X264,
    segmentPollMs: 20,
    // Every run under the production ceiling (prlimit), so a real encode shows it fits.
    ffmpegMemoryLimitBytes: 8192 * 1024 * 1024,
    ...overrides,
  };
  return { deps, events: rec.events, channels: rec.channels, closedCount: rec.closedCount, logs };
}

function job(videoId: string, attemptsMade = 0, data?: unknown): TranscodeJobLike {
  return {
    id: videoId,
    data: data ?? {
      videoId,
      ownerId: testId("owner"),
      input: { key: sourceKey(videoId) },
      output: { prefix: outputPrefix(videoId), ladder: LADDER },
      progressToken: `token-${videoId}`,
    },
    attemptsMade,
    attemptsStarted: attemptsMade + 1,
    opts: { attempts: 3 },
  };
}

/**
 * A successful job's stages: playable after the first chunk (1 s) of every rung and the first audio
 * segment are stored, the remaining chunks transcoding on, ready once every playlist is VOD and the
 * measured master is out.
 */
const SUCCESS_STAGES = ["downloading", "probing", "transcoding", "playable", "transcoding", "ready"];

/** Stage order with consecutive repeats collapsed. */
function stages(events: Recorded[]): string[] {
  return events.map((e) => e.type).filter((t, i, all) => t !== all[i - 1]);
}

/** Asserts that every percent (stage-wide and per rung) never goes down within its stage. */
function expectMonotonic(events: Recorded[]) {
  const last = new Map<string, number>();
  const check = (key: string, value: number) => {
    expect(value, key).toBeGreaterThanOrEqual(last.get(key) ?? 0);
    expect(value, key).toBeLessThanOrEqual(100);
    last.set(key, value);
  };
  for (const e of events) {
    if ("percent" in e) check(e.type, e.percent);
    if (e.type === "transcoding") for (const r of e.rungs) check(`rung ${r.name}`, r.percent);
  }
}

async function upload(key: string, body: Uint8Array) {
  await createStorage(s3.config).putBody(key, body, "application/octet-stream");
}

describe("processJob", () => {
  it("turns an upload into HLS + poster in storage, master last, publishing progress then ready", async () => {
    await upload(sourceKey(testId("vid_ok")), clip);
    const { deps, events, channels, closedCount, logs } = harness();
    const result = await processJob(job(testId("vid_ok")), deps);
    if (process.env.SHOW_LOGS) console.log(logs.filter((l) => /stage|delivery/.test(l)).join("\n"));

    expect(channels).toEqual([{ videoId: testId("vid_ok"), token: `token-${testId("vid_ok")}`, attempt: 1 }]);
    expect(stages(events)).toEqual(SUCCESS_STAGES);
    expectMonotonic(events);
    // The download runs beside the probe and the encode (ffmpeg reads the header, chunk 1 and the
    // audio over a presigned URL meanwhile), so it is no stage of its own after the first event.
    const downloads = events.filter((e) => e.type === "downloading");
    expect(downloads).toEqual([{ type: "downloading", bytes: 0, totalBytes: null, percent: 0 }]);
    const encodes = events.filter((e) => e.type === "transcoding");
    expect(encodes.length).toBeGreaterThan(2);
    expect(encodes[0]).toMatchObject({ percent: 0, fps: null, speed: null, etaSeconds: null });
    expect(encodes[0]?.rungs).toEqual([
      { name: "360p", height: 360, percent: 0 },
      { name: "180p", height: 180, percent: 0 },
    ]);
    // Chunks as they are stored (7 s: 1 s, 5 s, then the last second), and each rung's published prefix.
    expect(encodes[0]).toMatchObject({ chunksDone: 0, chunksTotal: 3 });
    expect(encodes.some((e) => e.chunksDone === 1)).toBe(true);
    expect(encodes.some((e) => e.rungs.some((r) => r.percent > 0 && r.percent < 100))).toBe(true);
    expect(encodes.at(-1)).toMatchObject({ percent: 100, etaSeconds: 0, chunksDone: 3, chunksTotal: 3 });
    expect(encodes.at(-1)?.rungs.map((r) => r.percent)).toEqual([100, 100]);
    const playable = events.find((e) => e.type === "playable");
    expect(playable).toMatchObject({ segmentsPublished: 1, segmentsTotal: 5 });

    const ready = events.at(-1);
    expect(ready?.finished).toBe(true);
    if (ready?.type !== "ready") throw new Error("unreachable");
    // Once numbered and stamped, the event is what the contract accepts.
    const { finished: _, ...readyEvent } = ready;
    expect(ProgressEvent.safeParse({ ...readyEvent, seq: 1, at: 1 }).success).toBe(true);
    expect(ready.sourceWidth).toBe(640);
    expect(ready.sourceHeight).toBe(360);
    expect(ready.durationSeconds).toBeCloseTo(7, 0);
    expect(ready.renditions.map((r) => `${r.name} ${r.width}x${r.height}`)).toEqual([
      "180p 320x180",
      "360p 640x360",
    ]);
    for (const r of ready.renditions) expect(r.codecs).toMatch(/^avc1\.64[0-9a-f]{4},mp4a\.40\.2$/);
    expect(result.renditions).toEqual(ready.renditions);
    expect(closedCount()).toBe(1);

    const prefix = outputPrefix(testId("vid_ok"));
    const puts = s3.puts.filter((k) => k.startsWith(prefix));
    expect(puts.at(-1)).toBe(`${prefix}master.m3u8`);
    // The provisional master went out while segments were still being stored, the measured one last.
    expect(puts.filter((k) => k === `${prefix}master.m3u8`)).toHaveLength(2);
    expect(puts.indexOf(`${prefix}master.m3u8`)).toBeLessThan(puts.indexOf(`${prefix}360p/seg_00004.m4s`));
    const expected: [string, string][] = [
      ["master.m3u8", "application/vnd.apple.mpegurl"],
      ["poster.jpg", "image/jpeg"],
      ["360p/index.m3u8", "application/vnd.apple.mpegurl"],
      ["360p/init.mp4", "video/mp4"],
      ["360p/seg_00001.m4s", "video/iso.segment"],
      ["360p/seg_00002.m4s", "video/iso.segment"],
      ["180p/init.mp4", "video/mp4"],
      ["audio/index.m3u8", "application/vnd.apple.mpegurl"],
      ["audio/init.mp4", "video/mp4"],
      ["audio/seg_00001.m4s", "video/iso.segment"],
      // Made from the published segments before the master (deliver.ts).
      ["360p/iframes.m3u8", "application/vnd.apple.mpegurl"],
      ["180p/iframes.m3u8", "application/vnd.apple.mpegurl"],
      ["manifest.mpd", "application/dash+xml"],
      ["storyboard/storyboard.vtt", "text/vtt; charset=utf-8"],
      ["storyboard/sprite_001.jpg", "image/jpeg"],
      ["download/video.mp4", "video/mp4"],
    ];
    for (const [key, type] of expected) {
      const res = await s3.get(prefix + key);
      expect(res.status, key).toBe(200);
      expect(res.headers.get("content-type"), key).toBe(type);
    }
    const master = await (await s3.get(`${prefix}master.m3u8`)).text();
    expect(master).toContain('URI="audio/index.m3u8"');
    expect(master.indexOf("180p/index.m3u8")).toBeLessThan(master.indexOf("360p/index.m3u8"));
    expect(master).toMatch(/#EXT-X-I-FRAME-STREAM-INF:.*RESOLUTION=640x360.*URI="360p\/iframes\.m3u8"/);
    expect(ready.assets).toMatchObject({ dash: true, download: { rendition: "360p" } });
    expect(ready.assets?.storyboard?.thumbnails).toBeGreaterThanOrEqual(7);
    for (const r of ready.renditions) {
      expect(r.quality?.ssim, r.name).toBeGreaterThan(0.8);
      expect(r.quality?.frames, r.name).toBeGreaterThan(0);
    }
    // Everything the master names or is made alongside it was written before it.
    expect(puts.indexOf(`${prefix}manifest.mpd`)).toBeLessThan(puts.lastIndexOf(`${prefix}master.m3u8`));
    const variant = await (await s3.get(`${prefix}360p/index.m3u8`)).text();
    expect(variant).toContain('#EXT-X-MAP:URI="init.mp4"');
    expect(variant).toContain("#EXT-X-PLAYLIST-TYPE:VOD");
    expect(variant).toContain("#EXT-X-ENDLIST");
    expect(variant.match(/^#EXTINF:/gm)).toHaveLength(5);

    const poster = Buffer.from(await (await s3.get(`${prefix}poster.jpg`)).arrayBuffer());
    expect(poster.subarray(0, 2).toString("hex")).toBe("ffd8");

    expect(await readdir(workDir)).toEqual([]); // temp folder removed
  }, 60_000);

  it.each([
    ["an empty file", new Uint8Array(0), BAD_MEDIA.empty],
    ["random bytes", noise(300 * 1024), BAD_MEDIA.unreadable],
  ])("rejects %s as unrecoverable and publishes the reason", async (_label, body, reason) => {
    const id = testId(`vid_bad_${randomBytes(4).toString("hex")}`);
    await upload(sourceKey(id), body);
    const { deps, events, closedCount } = harness();
    const err = await processJob(job(id), deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnrecoverableError);
    expect((err as Error).message).toBe(reason);
    expect(stages(events)).toEqual(["downloading", "probing", "failed"]);
    expect(events.at(-1)).toEqual({ type: "failed", reason, finished: true });
    expect(closedCount()).toBe(1);
    expect(await readdir(workDir)).toEqual([]);
  });

  it("reads the source through the node's cache when it has one: one download, shared with its chunks", async () => {
    const id = testId("vid_cache");
    await upload(sourceKey(id), clip);
    const cacheDir = await mkdtemp(join(tmpdir(), "streamlet-sources-"));
    const storage = createStorage(s3.config, { baseDelayMs: 5 });
    let downloads = 0;
    const counting = {
      ...storage,
      download: (...args: Parameters<typeof storage.download>) => {
        if (args[0] === sourceKey(id)) downloads += 1;
        return storage.download(...args);
      },
    };
    const sources = createSourceCache({
      storage: counting,
      workDir: cacheDir,
      log: createLogger({}, () => {}),
      sweepEveryMs: 0,
    });
    try {
      const { deps } = harness({ storage: counting, sources });
      await processJob(job(id), deps);
      expect(downloads).toBe(1);
      // A chunk of this video on this node afterwards finds the file: no second download.
      const lease = await sources.acquire(id);
      lease.release();
      expect(downloads).toBe(1);
      expect(await readdir(workDir)).toEqual([]); // the job's own temp folder still goes
    } finally {
      sources.close();
      await rm(cacheDir, { recursive: true, force: true });
    }
  }, 60_000);

  it("runs chunk 1 at the normal CPU priority and the audio and later chunks niced", async () => {
    const id = testId("vid_niceness");
    await upload(sourceKey(id), clip);
    // ffmpeg behind a wrapper that notes what each run is and the niceness it started at.
    const log = join(dir, "niceness.log");
    const wrapper = join(dir, "ffmpeg-niceness");
    const script = [
      "#!/bin/sh",
      'case " $* " in',
      // deliver.ts's runs after the encode (decode checks, quality, storyboard, download remux).
      '  *" null "*|*ssim*|*tile=*|*faststart*) kind=deliver ;;',
      '  *" 0:a:0 "*) kind=audio ;;',
      '  *" -filter_complex "*) kind=chunk ;;',
      "  *) kind=other ;;",
      "esac",
      `echo "$kind $(nice)" >> '${log}'`,
      'exec ffmpeg "$@"',
    ].join("\n");
    await writeFile(wrapper, `${script}\n`, { mode: 0o755 });
    const { deps } = harness({ ffmpegPath: wrapper });
    await processJob(job(id), deps);
    const runs = (await readFile(log, "utf8")).trim().split("\n");
    // The in-process runner encodes the chunks in order: 1, 2, 3 (the audio runs beside them).
    expect(runs.filter((r) => r.startsWith("chunk"))).toEqual(["chunk 0", "chunk 10", "chunk 10"]);
    expect(runs.filter((r) => !r.startsWith("chunk") && !r.startsWith("deliver")).sort()).toEqual([
      "audio 10",
      "other 0",
    ]);
    // What is made from the published ladder runs at the normal priority: it stands between the video and ready.
    expect(new Set(runs.filter((r) => r.startsWith("deliver")))).toEqual(new Set(["deliver 0"]));
  }, 60_000);

  it("is playable before its download ends: the header, chunk 1 and the audio are read over a presigned URL", async () => {
    const id = testId("vid_stream");
    await upload(sourceKey(id), clip);
    const storage = createStorage(s3.config, { baseDelayMs: 5 });
    // The source's download does not start until the video is playable (or 20 s have gone: then the
    // test fails); other downloads (the inits read back for CODECS) go through.
    let open = () => {};
    const gate = new Promise<void>((resolve) => {
      open = resolve;
      setTimeout(resolve, 20_000);
    });
    let playableFirst: boolean | undefined;
    const slow = {
      ...storage,
      download: async (...args: Parameters<typeof storage.download>) => {
        if (args[0] !== sourceKey(id)) return storage.download(...args);
        await gate;
        playableFirst ??= playable;
        return storage.download(...args);
      },
    };
    let playable = false;
    const { deps, events } = harness({ storage: slow }, undefined, (update) => {
      if (update.type !== "playable") return;
      playable = true;
      open();
    });
    await processJob(job(id), deps);
    expect(playableFirst).toBe(true);
    expect(stages(events)).toEqual(SUCCESS_STAGES);
  }, 60_000);

  it("starts the source's download only once its first chunk is stored, leaving chunk 1 the node's CPU", async () => {
    const id = testId("vid_late_download");
    await upload(sourceKey(id), clip);
    const storage = createStorage(s3.config, { baseDelayMs: 5 });
    const order: string[] = [];
    const noting = {
      ...storage,
      download: (...args: Parameters<typeof storage.download>) => {
        if (args[0] === sourceKey(id)) order.push("download");
        return storage.download(...args);
      },
      putFile: (...args: Parameters<typeof storage.putFile>) => {
        if (/\/\d+p\/seg_00001\.m4s$/.test(args[0]) && !order.includes("chunk 1")) order.push("chunk 1");
        return storage.putFile(...args);
      },
    };
    const { deps, events } = harness({ storage: noting });
    await processJob(job(id), deps);
    expect(order).toEqual(["chunk 1", "download"]);
    expect(stages(events)).toEqual(SUCCESS_STAGES);
  }, 60_000);

  it("lists no more audio than video while it grows, each audio segment ending where its video segment ends", async () => {
    const id = testId("vid_audio_follows");
    await upload(sourceKey(id), clip);
    const storage = createStorage(s3.config, { baseDelayMs: 5 });
    /** Seconds each playlist listed, every time one was written, and whether it was final. */
    const writes: { name: string; seconds: number[]; final: boolean }[] = [];
    const recording = {
      ...storage,
      putBody: async (...args: Parameters<typeof storage.putBody>) => {
        const [key, body] = args;
        const name = /\/([\w-]+)\/index\.m3u8$/.exec(key)?.[1];
        if (name && typeof body === "string") {
          const seconds = [...body.matchAll(/#EXTINF:([\d.]+),/g)].map((m) => Number(m[1]));
          writes.push({ name, seconds, final: body.includes("#EXT-X-ENDLIST") });
        }
        return storage.putBody(...args);
      },
    };
    const { deps } = harness({ storage: recording });
    await processJob(job(id), deps);
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const latest = new Map<string, number[]>();
    let audioWrites = 0;
    for (const w of writes) {
      latest.set(w.name, w.seconds);
      if (w.name !== "audio" || w.final) continue;
      audioWrites += 1;
      const video = ["360p", "180p"].map((r) => sum(latest.get(r) ?? []));
      // Within two AAC frames (21.3 ms each): ffmpeg cuts at the first frame past each boundary.
      expect(sum(w.seconds)).toBeLessThanOrEqual(Math.min(...video) + 0.05);
    }
    expect(audioWrites).toBeGreaterThan(0);
    // Finished: segment for segment, the audio lasts as long as the video (within two AAC frames).
    const audio = latest.get("audio") ?? [];
    const video = latest.get("360p") ?? [];
    expect(audio).toHaveLength(video.length);
    for (const [i, seconds] of audio.entries())
      expect(Math.abs(seconds - (video[i] as number))).toBeLessThan(0.05);
  }, 60_000);

  it("when ffmpeg cannot read the URL, it probes and encodes the download instead", async () => {
    const id = testId("vid_no_url");
    await upload(sourceKey(id), clip);
    const storage = createStorage(s3.config, { baseDelayMs: 5 });
    // A URL nothing answers (a storage endpoint ffmpeg cannot reach, an untrusted certificate, say).
    const unreachable = { ...storage, presignGet: async () => "http://127.0.0.1:9/unreachable" };
    const { deps, events, logs } = harness({ storage: unreachable });
    const result = await processJob(job(id), deps);
    expect(result.renditions.map((r) => r.name).sort()).toEqual(["180p", "360p"]);
    expect(events.at(-1)).toMatchObject({ type: "ready" });
    expect(logs.join("\n")).toMatch(/could not read the source's header over its URL; probing the download/);
  }, 60_000);

  it("a header that passes but a file that breaks a limit: the full probe fails the video, its output removed", async () => {
    // Three 1080p frames an hour apart at a nominal 60 fps (source-limits.test.ts): the header alone
    // shows a 2-h 60-fps video; only the packet count shows it would invent 432 000 frames a rung.
    const id = testId("vid_sparse");
    const file = join(dir, "gap.mkv");
    await run("ffmpeg", [
      ...["-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i", "color=s=1920x1080:r=60:d=0.0334"],
      ...["-vf", "setpts=N*3600*60", "-fps_mode", "passthrough", "-c:v", "libx264", "-preset", "ultrafast"],
      ...["-r", "60", file],
    ]);
    await upload(sourceKey(id), await readFile(file));
    const { deps, events } = harness();
    const started = Date.now();
    const err = await processJob(job(id), deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnrecoverableError);
    expect((err as Error).message).toMatch(/frames are far apart \(3 frames over 2\.0 h\)/);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(events.at(-1)).toMatchObject({ type: "failed", finished: true });
    expect(await s3.list(outputPrefix(id))).toEqual([]);
  }, 60_000);

  it("a segment corrupted in storage stops publication: failed with the reason, nothing left, no final master", async () => {
    const id = testId("vid_corrupt");
    await upload(sourceKey(id), clip);
    const real = createStorage(s3.config, { baseDelayMs: 5 });
    const corrupt = `${outputPrefix(id)}360p/seg_00003.m4s`;
    // The segment as stored is not the segment that was encoded: the picture data in the middle of its
    // mdat overwritten (same size, so only reading it back and decoding it can tell).
    const storage: typeof real = {
      ...real,
      putFile: async (key, file, type, signal) => {
        if (key !== corrupt) return real.putFile(key, file, type, signal);
        const bytes = await readFile(file);
        const mdat = bytes.indexOf("mdat", 0, "latin1");
        const start = mdat + 200;
        randomBytes(Math.min(4000, bytes.length - start - 16)).copy(bytes, start);
        const copy = `${file}.corrupt`;
        await writeFile(copy, bytes);
        return real.putFile(key, copy, type, signal);
      },
    };
    const { deps, events } = harness({ storage });
    const failure = await processJob(job(id), deps).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(UnrecoverableError);
    const last = events.at(-1);
    expect(last?.type).toBe("failed");
    if (last?.type !== "failed") throw new Error("unreachable");
    expect(last.reason).toMatch(/360p segment 3/);
    expect(events.some((e) => e.type === "ready")).toBe(false);
    const prefix = outputPrefix(id);
    // The provisional master only: the measured one is never written, and the output is removed.
    expect(s3.puts.filter((k) => k === `${prefix}master.m3u8`)).toHaveLength(1);
    expect(s3.puts).not.toContain(`${prefix}manifest.mpd`);
    expect((await s3.get(`${prefix}360p/seg_00001.m4s`)).status).toBe(404);
  }, 60_000);

  it("a truncated upload (moov first, data cut) fails as truncated", async () => {
    await upload(sourceKey(testId("vid_cut")), clip.subarray(0, Math.floor(clip.length * 0.4)));
    const { deps, events } = harness();
    const err = await processJob(job(testId("vid_cut")), deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnrecoverableError);
    expect((err as Error).message).toMatch(/^The uploaded file is incomplete or truncated/);
    expect(events.at(-1)).toEqual({ type: "failed", reason: (err as Error).message, finished: true });
  }, 30_000);

  it("a missing source object is unrecoverable", async () => {
    const { deps, events } = harness();
    const err = await processJob(job(testId("vid_missing")), deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnrecoverableError);
    expect((err as Error).message).toMatch(/not found in storage/);
    expect(stages(events)).toEqual(["downloading", "probing", "failed"]);
  });

  it("an invalid payload (no progress token, say) is unrecoverable and never crashes the worker", async () => {
    const { deps, events, channels } = harness();
    const err = await processJob(job("x", 0, { videoId: "", input: {} }), deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnrecoverableError);
    expect((err as Error).message).toMatch(/^invalid job payload/);
    const { progressToken: _, ...noToken } = job(testId("y")).data as Record<string, unknown>;
    await expect(processJob(job("y", 0, noToken), deps)).rejects.toThrow(/^invalid job payload/);
    expect(channels).toEqual([]);
    expect(events).toEqual([]);
  });

  it("a storage outage is retried by BullMQ: no failed event before the last attempt", async () => {
    const down = createStorage(
      { ...s3.config, endpoint: "http://127.0.0.1:1" },
      { attempts: 2, baseDelayMs: 1 },
    );
    const first = harness({ storage: down });
    const err = await processJob(job(testId("vid_outage"), 0), first.deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(UnrecoverableError);
    expect(stages(first.events)).toEqual(["downloading", "probing"]);
    expect(first.closedCount()).toBe(1);

    const last = harness({ storage: down });
    await expect(processJob(job(testId("vid_outage"), 2), last.deps)).rejects.toThrow();
    expect(last.channels[0]?.attempt).toBe(3);
    expect(stages(last.events)).toEqual(["downloading", "probing", "failed"]);
    expect(last.events.at(-1)).toMatchObject({ reason: expect.stringMatching(/^Processing failed: /) });
    // ffmpeg retries connecting to the URL for a few seconds before the download is tried.
  }, 30_000);

  it("ready that is never acknowledged fails the attempt as transient and cleans up", async () => {
    const { deps, closedCount } = harness({}, async (update) => {
      if (update.type === "ready") throw new ProgressAckTimeoutError("no ack");
    });
    await upload(sourceKey(testId("vid_edge")), clip);
    const err = await processJob(job(testId("vid_edge")), deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProgressAckTimeoutError);
    expect(err).not.toBeInstanceOf(UnrecoverableError);
    expect(closedCount()).toBe(1);
    expect(await readdir(workDir)).toEqual([]);
  }, 60_000);

  it("stops early when the edge refuses the progress socket for good (a deleted video, say)", async () => {
    const secret = "0123456789abcdef";
    const fake = await startFakeDo({
      secret,
      token: `token-${testId("vid_gone")}`,
      videoId: testId("vid_gone"),
    });
    fake.behaviour.refuse = 404;
    try {
      await upload(sourceKey(testId("vid_gone")), clip);
      const { deps } = harness({
        openProgress: (channel) =>
          createProgressPublisher({ ...channel, edgeUrl: fake.url, secret, log: createLogger({}, () => {}) }),
      });
      const err = await processJob(job(testId("vid_gone")), deps).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnrecoverableError);
      expect((err as Error).message).toMatch(/HTTP 404/);
      expect(s3.puts.some((k) => k.startsWith(outputPrefix(testId("vid_gone"))))).toBe(false);
      expect(await readdir(workDir)).toEqual([]);
    } finally {
      await fake.close();
    }
  });

  it("a video deleted while its output uploads: the job stops, removes what it uploaded and ends cancelled", async () => {
    await upload(sourceKey(testId("vid_del")), clip);
    let uploadedBeforeCancel = 0;
    const { deps, events } = harness({}, undefined, (update, cancel) => {
      // Cancel once some files are in storage (the video is playable), as a DELETE arriving then would.
      if (update.type === "playable" && uploadedBeforeCancel === 0) {
        uploadedBeforeCancel = s3.puts.filter((k) => k.startsWith(outputPrefix(testId("vid_del")))).length;
        cancel();
      }
    });
    const err = await processJob(job(testId("vid_del"), 2), deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobCancelledError);
    expect(err).toBeInstanceOf(UnrecoverableError); // BullMQ does not retry it
    expect(uploadedBeforeCancel).toBeGreaterThan(0);
    expect(await s3.list(outputPrefix(testId("vid_del")))).toEqual([]);
    // Even on the last attempt: no "failed" (nobody is left to tell, and the video did nothing wrong).
    expect(events.some((e) => e.type === "failed" || e.type === "ready")).toBe(false);
    expect(await readdir(workDir)).toEqual([]);
  }, 60_000);

  it("a deleted video's source leaves the node's cache with the job, not at the next sweep", async () => {
    const id = testId("vid_del_cached");
    await upload(sourceKey(id), clip);
    const cacheDir = await mkdtemp(join(tmpdir(), "streamlet-sources-"));
    // The video is deleted once its source is in the node's cache (the download waits for chunk 1).
    const storage = createStorage(s3.config);
    let cancelJob: (() => void) | undefined;
    let cached = false;
    const sources = createSourceCache({
      storage: {
        ...storage,
        download: async (...args: Parameters<typeof storage.download>) => {
          const bytes = await storage.download(...args);
          cached = true;
          cancelJob?.();
          return bytes;
        },
      },
      workDir: cacheDir,
      log: createLogger({}, () => {}),
      sweepEveryMs: 0,
    });
    try {
      const { deps } = harness({ sources, encoder: X264_PRODUCTION }, undefined, (_update, cancel) => {
        cancelJob = cancel;
        if (cached) cancel();
      });
      const err = await processJob(job(id), deps).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(JobCancelledError);
      await sleep(50); // the removal follows the job's release of its lease
      expect(await readdir(join(cacheDir, "sources"))).toEqual([]);
    } finally {
      sources.close();
      await rm(cacheDir, { recursive: true, force: true });
    }
  }, 60_000);

  it("an NVENC encode that fails for a GPU reason is encoded again on x264 in the same attempt", async () => {
    // This machine has no NVIDIA driver: h264_nvenc fails for real ("Cannot load libcuda.so.1").
    await upload(sourceKey(testId("vid_gpu")), clip);
    const sessions = new SessionBudget(4);
    const failures: string[] = [];
    const encoded: string[] = [];
    const { deps, events, logs } = harness({
      encoder: { kind: "nvenc" },
      fallbackEncoder: X264,
      sessions,
      onNvencFailure: (d) => failures.push(d.failure.kind),
      onEncoded: (r) => encoded.push(r.encoder),
    });
    const result = await processJob(job(testId("vid_gpu")), deps);
    expect(failures).toEqual(["no_driver"]);
    expect(encoded).toEqual(["x264"]);
    expect(sessions.inUse).toBe(0);
    expect(result.renditions.map((r) => r.name)).toEqual(["180p", "360p"]);
    expect(events.at(-1)?.type).toBe("ready");
    expect(logs.some((l) => l.includes("NVENC encode failed mid-job"))).toBe(true);
  }, 60_000);

  it("a shutdown abort mid-encode kills ffmpeg and rethrows its reason, with no failed event", async () => {
    await upload(sourceKey(testId("vid_stop")), clip);
    const shutdown = new AbortController();
    const handBack = new Error("handing the job back");
    const { deps, events } = harness({ encoder: X264_PRODUCTION }, undefined, (update) => {
      if (update.type === "transcoding") shutdown.abort(handBack);
    });
    const err = await processJob(job(testId("vid_stop"), 2), deps, shutdown.signal).catch((e: unknown) => e);
    expect(err).toBe(handBack);
    expect(events.some((e) => e.type === "failed")).toBe(false);
    expect(s3.puts.some((k) => k.startsWith(outputPrefix(testId("vid_stop"))))).toBe(false);
    expect(await readdir(workDir)).toEqual([]);
    const { stdout } = await run("pgrep", ["-f", testId("vid_stop")]).catch(() => ({ stdout: "" }));
    expect(stdout.trim()).toBe(""); // no ffmpeg left behind
  }, 60_000);

  it("the edge closes the socket with 4410 (video deleted) mid-encode: cancelled through the real publisher", async () => {
    const secret = "0123456789abcdef";
    const fake = await startFakeDo({
      secret,
      token: `token-${testId("vid_del2")}`,
      videoId: testId("vid_del2"),
    });
    try {
      await upload(sourceKey(testId("vid_del2")), clip);
      const { deps } = harness({
        encoder: X264_PRODUCTION,
        openProgress: (channel) =>
          createProgressPublisher({
            ...channel,
            edgeUrl: fake.url,
            secret,
            minIntervalMs: 0,
            log: createLogger({}, () => {}),
          }),
      });
      const running = processJob(job(testId("vid_del2")), deps).catch((e: unknown) => e);
      await waitUntil(() => fake.received.some((r) => r.event.type === "transcoding"), 30_000, "transcoding");
      fake.deleteVideo();
      const err = await running;
      expect(err).toBeInstanceOf(JobCancelledError);
      expect(await s3.list(outputPrefix(testId("vid_del2")))).toEqual([]);
      expect(fake.received.some((r) => r.event.type === "failed" || r.event.type === "ready")).toBe(false);
      expect(await readdir(workDir)).toEqual([]);
    } finally {
      await fake.close();
    }
  }, 60_000);

  it("through a real socket: seqs carry the attempt, and the job resolves only after ready is acked", async () => {
    const secret = "0123456789abcdef";
    const fake = await startFakeDo({
      secret,
      token: `token-${testId("vid_sock")}`,
      videoId: testId("vid_sock"),
    });
    fake.behaviour.ackDelayMs = 50;
    try {
      await upload(sourceKey(testId("vid_sock")), clip);
      const { deps } = harness({
        openProgress: (channel) =>
          createProgressPublisher({
            ...channel,
            edgeUrl: fake.url,
            secret,
            log: createLogger({}, () => {}),
          }),
      });
      await processJob(job(testId("vid_sock"), 1), deps);
      const stored = fake.stored();
      expect(stages(stored)).toEqual([
        "downloading",
        "probing",
        "transcoding",
        "playable",
        "transcoding",
        "ready",
      ]);
      expectMonotonic(stored);
      const seqs = stored.map((e) => e.seq);
      expect(seqs[0]).toBe(2 * SEQ_EPOCH + 1);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size).toBe(seqs.length);
      // Throttled: within a stage, updates are >= 250 ms apart, except the one a stage change flushes.
      const received = fake.received;
      for (let i = 1; i < received.length - 1; i++) {
        const [a, b, next] = [received[i - 1], received[i], received[i + 1]];
        if (a && b && next && a.event.type === b.event.type && next.event.type === b.event.type) {
          expect(b.at - a.at).toBeGreaterThanOrEqual(200);
        }
      }
      await new Promise((r) => setTimeout(r, 100));
      expect(fake.openSockets()).toBe(0); // closed at the end of the job
    } finally {
      await fake.close();
    }
  }, 60_000);
});

describe("classifyError", () => {
  it("an ffmpeg run past its deadline fails the job for good, saying why", () => {
    const err = classifyError(new FfmpegDeadlineError(7_200_000, "ffmpeg -i source out", []));
    expect(err).toBeInstanceOf(UnrecoverableError);
    expect((err as Error).message).toBe(
      "Processing took too long and was stopped (ffmpeg ran longer than its 2.0 h limit and was stopped); the video may be too long or too complex for this server",
    );
  });
});

describe("the job payload is not trusted for storage", () => {
  it("every key is derived from the video id (sourceKey / outputPrefix), never read from the payload", async () => {
    // The shared schema already refuses payloads whose keys differ; the processor does not rely on it.
    const text = await readFile(join(import.meta.dirname, "..", "src", "process-job.ts"), "utf8");
    expect(text).not.toMatch(/\.input\.key|\.output\.prefix|input\?\.key|output\?\.prefix/);
    expect(text).toMatch(/sourceKey\(a\.data\.videoId\)/);
    expect(text).toMatch(/outputPrefix\(a\.data\.videoId\)/);
  });
});
