import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { type StatusReport, StatusReport as StatusReportSchema } from "@streamlet/shared";
import { UnrecoverableError } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../src/log.ts";
import { BAD_MEDIA } from "../src/probe.ts";
import { type ProcessDeps, processJob, type TranscodeJobLike } from "../src/process-job.ts";
import { createStorage } from "../src/storage.ts";
import { startS3, type TestS3 } from "./helpers/s3.ts";

const run = promisify(execFile);
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

function harness(overrides: Partial<ProcessDeps> = {}) {
  const reports: StatusReport[] = [];
  const logs: string[] = [];
  const deps: ProcessDeps = {
    storage: createStorage(s3.config, { baseDelayMs: 5 }),
    report: async (_videoId, report) => {
      reports.push(report);
    },
    log: createLogger({}, (line) => logs.push(line)),
    workDir,
    ffmpegPath: "ffmpeg",
    ffprobePath: "ffprobe",
    encoder: { kind: "x264", preset: "veryfast" },
    progressIntervalMs: 0,
    ...overrides,
  };
  return { deps, reports, logs };
}

function job(videoId: string, attemptsMade = 0, data?: unknown): TranscodeJobLike & { progress: number[] } {
  const progress: number[] = [];
  return {
    id: videoId,
    data: data ?? {
      videoId,
      input: { key: `sources/${videoId}` },
      output: { prefix: `videos/${videoId}/`, ladder: LADDER },
    },
    attemptsMade,
    opts: { attempts: 3 },
    progress,
    updateProgress: async (value) => {
      progress.push(value as number);
    },
  };
}

async function upload(key: string, body: Uint8Array) {
  await createStorage(s3.config).putBody(key, body, "application/octet-stream");
}

describe("processJob", () => {
  it("turns an upload into HLS + poster in storage, master last, and reports ready", async () => {
    await upload("sources/vid_ok", clip);
    const { deps, reports } = harness();
    const j = job("vid_ok");
    const result = await processJob(j, deps);

    expect(reports.map((r) => r.status)).toEqual(["processing", "ready"]);
    const ready = StatusReportSchema.parse(reports[1]);
    if (ready.status !== "ready") throw new Error("unreachable");
    expect(ready.sourceWidth).toBe(640);
    expect(ready.sourceHeight).toBe(360);
    expect(ready.durationSeconds).toBeCloseTo(7, 0);
    expect(ready.renditions.map((r) => `${r.name} ${r.width}x${r.height}`)).toEqual([
      "180p 320x180",
      "360p 640x360",
    ]);
    for (const r of ready.renditions) expect(r.codecs).toMatch(/^avc1\.64[0-9a-f]{4},mp4a\.40\.2$/);
    expect(result.renditions).toEqual(ready.renditions);

    const prefix = "videos/vid_ok/";
    expect(s3.puts.filter((k) => k.startsWith(prefix)).at(-1)).toBe(`${prefix}master.m3u8`);
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
    ];
    for (const [key, type] of expected) {
      const res = await s3.get(prefix + key);
      expect(res.status, key).toBe(200);
      expect(res.headers.get("content-type"), key).toBe(type);
    }
    const master = await (await s3.get(`${prefix}master.m3u8`)).text();
    expect(master).toContain('URI="audio/index.m3u8"');
    expect(master.indexOf("180p/index.m3u8")).toBeLessThan(master.indexOf("360p/index.m3u8"));
    const variant = await (await s3.get(`${prefix}360p/index.m3u8`)).text();
    expect(variant).toContain('#EXT-X-MAP:URI="init.mp4"');

    const poster = Buffer.from(await (await s3.get(`${prefix}poster.jpg`)).arrayBuffer());
    expect(poster.subarray(0, 2).toString("hex")).toBe("ffd8");

    expect(j.progress.at(-1)).toBe(100);
    expect(await readdir(workDir)).toEqual([]); // temp folder removed
  }, 60_000);

  it.each([
    ["an empty file", new Uint8Array(0), BAD_MEDIA.empty],
    ["random bytes", randomBytes(300 * 1024), BAD_MEDIA.unreadable],
  ])("rejects %s as unrecoverable and reports the reason", async (_label, body, reason) => {
    const id = `vid_bad_${randomBytes(4).toString("hex")}`;
    await upload(`sources/${id}`, body);
    const { deps, reports } = harness();
    const err = await processJob(job(id), deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnrecoverableError);
    expect((err as Error).message).toBe(reason);
    expect(reports).toEqual([{ status: "processing" }, { status: "failed", reason }]);
    expect(await readdir(workDir)).toEqual([]);
  });

  it("a truncated upload (moov first, data cut) fails as truncated", async () => {
    await upload("sources/vid_cut", clip.subarray(0, Math.floor(clip.length * 0.4)));
    const { deps, reports } = harness();
    const err = await processJob(job("vid_cut"), deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnrecoverableError);
    expect((err as Error).message).toMatch(
      /^The uploaded file appears truncated: decoded \d+\.\d s of 7\.0 s$/,
    );
    expect(reports.at(-1)).toEqual({ status: "failed", reason: (err as Error).message });
  }, 30_000);

  it("a missing source object is unrecoverable", async () => {
    const { deps, reports } = harness();
    const err = await processJob(job("vid_missing"), deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnrecoverableError);
    expect((err as Error).message).toMatch(/not found in storage/);
    expect(reports.map((r) => r.status)).toEqual(["processing", "failed"]);
  });

  it("an invalid payload is unrecoverable and never crashes the worker", async () => {
    const { deps, reports } = harness();
    const err = await processJob(job("x", 0, { videoId: "", input: {} }), deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnrecoverableError);
    expect((err as Error).message).toMatch(/^invalid job payload/);
    expect(reports).toEqual([]);
  });

  it("a storage outage is retried by BullMQ: no failed report before the last attempt", async () => {
    const down = createStorage(
      { ...s3.config, endpoint: "http://127.0.0.1:1" },
      { attempts: 2, baseDelayMs: 1 },
    );
    const first = harness({ storage: down });
    const err = await processJob(job("vid_outage", 0), first.deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(UnrecoverableError);
    expect(first.reports).toEqual([{ status: "processing" }]);

    const last = harness({ storage: down });
    await expect(processJob(job("vid_outage", 2), last.deps)).rejects.toThrow();
    expect(last.reports.map((r) => r.status)).toEqual(["processing", "failed"]);
    expect(last.reports[1]).toMatchObject({ reason: expect.stringMatching(/^Processing failed: /) });
  });

  it("an edge that cannot be reached fails the attempt (transient) and cleans up", async () => {
    const { deps } = harness({
      report: async () => {
        throw new TypeError("fetch failed");
      },
    });
    await upload("sources/vid_edge", clip);
    const err = await processJob(job("vid_edge"), deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect(await readdir(workDir)).toEqual([]);
  });
});
