import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { outputPrefix } from "@streamlet/shared";
import { UnrecoverableError } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLocalChunkRunner } from "../../src/chunked/local-runner.ts";
import { type RunChunkDeps, runChunk } from "../../src/chunked/run-chunk.ts";
import { type ChunkDone, ChunkJob } from "../../src/chunked/types.ts";
import { createLogger } from "../../src/log.ts";
import { createStorage } from "../../src/storage.ts";
import { startS3, type TestS3 } from "../helpers/s3.ts";
import { expectedKeys, makeClip, videoOf } from "./fixtures.ts";

describe("runChunk and the local runner (ffmpeg + s3rver)", () => {
  let s3: TestS3;
  let dir: string;
  let source: string;
  let deps: RunChunkDeps;

  beforeAll(async () => {
    s3 = await startS3();
    dir = await mkdtemp(join(tmpdir(), "streamlet-run-chunk-"));
    source = join(dir, "source.mp4");
    await makeClip(source);
    deps = {
      storage: createStorage(s3.config),
      log: createLogger({}, () => {}),
      workDir: dir,
      ffmpegPath: "ffmpeg",
      encoder: { kind: "x264", preset: "ultrafast" },
    };
  }, 30_000);

  afterAll(async () => {
    await s3?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const jobOf = (name: string, chunk: number) => {
    const { chunkCount: _c, source: _s, ...shared } = videoOf(name);
    return ChunkJob.parse({ ...shared, chunk });
  };

  const sha = async (key: string) =>
    createHash("sha256")
      .update(Buffer.from(await (await s3.get(key)).arrayBuffer()))
      .digest("hex");

  it("stores exactly chunk 1's segments and the inits, and reports their sizes and the init hash", async () => {
    const job = jobOf("rc1", 1);
    const prefix = outputPrefix(job.videoId);
    const done = await runChunk(job, source, deps);
    expect(await s3.list(prefix)).toEqual(expectedKeys(prefix, [1]));
    expect(done.chunk).toBe(1);
    expect(done.rungs.map((r) => r.rung)).toEqual(["180p", "90p"]);
    for (const r of done.rungs) {
      expect(r.segments.map((s) => s.index)).toEqual([1]);
      expect(r.segments[0]?.durationSeconds).toBeCloseTo(1, 6);
      const stored = await s3.get(`${prefix}${r.rung}/seg_00001.m4s`);
      expect(Number(stored.headers.get("content-length"))).toBe(r.segments[0]?.bytes);
      expect(r.initSha256).toBe(await sha(`${prefix}${r.rung}/init.mp4`));
    }
    // Its temp folder is gone.
    expect((await readdir(dir)).filter((f) => f.startsWith("streamlet-chunk-"))).toEqual([]);
  }, 30_000);

  it("stores a later chunk's segments only, with the same init hash as chunk 1", async () => {
    const first = await runChunk(jobOf("rc2", 1), source, deps);
    const job = jobOf("rc2", 2);
    const prefix = outputPrefix(job.videoId);
    const done = await runChunk(job, source, deps);
    expect(done.rungs.map((r) => r.segments.map((s) => s.index))).toEqual([
      [2, 3, 4],
      [2, 3, 4],
    ]);
    expect(done.rungs.map((r) => r.initSha256)).toEqual(first.rungs.map((r) => r.initSha256));
    expect(await s3.list(prefix)).toEqual(expectedKeys(prefix, [1, 2]));
  }, 30_000);

  it("encodes a video's first chunk at the normal CPU priority and every later chunk niced", async () => {
    // ffmpeg behind a wrapper that notes the niceness it was started at, then execs the real one.
    const log = join(dir, "niceness.log");
    const wrapper = join(dir, "ffmpeg-niceness");
    await writeFile(wrapper, `#!/bin/sh\nnice >> '${log}'\nexec ffmpeg "$@"\n`, { mode: 0o755 });
    const niced = { ...deps, ffmpegPath: wrapper };
    await runChunk(jobOf("rc-nice", 1), source, niced);
    await runChunk(jobOf("rc-nice", 2), source, niced);
    expect((await readFile(log, "utf8")).trim().split("\n")).toEqual(["0", "10"]);
  }, 30_000);

  it("fails a chunk outside the plan for good", async () => {
    const err = await runChunk(jobOf("rc3", 9), source, deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnrecoverableError);
    expect((err as Error).message).toMatch(/chunk 9 is not in the plan/);
  });

  it("the local runner stores every chunk in order and reports each once", async () => {
    const video = videoOf("rc4", source);
    const seen: ChunkDone[] = [];
    await createLocalChunkRunner(deps).run(video, (d) => void seen.push(d), new AbortController().signal);
    expect(seen.map((d) => d.chunk)).toEqual([1, 2, 3, 4, 5]);
    const prefix = outputPrefix(video.videoId);
    expect(await s3.list(prefix)).toEqual(expectedKeys(prefix));
    const segments = seen.flatMap((d) => d.rungs[0]?.segments ?? []);
    expect(segments.reduce((t, s) => t + s.durationSeconds, 0)).toBeCloseTo(20, 6);
  }, 60_000);

  it("the local runner stops on its signal with the signal's reason", async () => {
    const controller = new AbortController();
    const seen: number[] = [];
    const run = createLocalChunkRunner(deps).run(
      videoOf("rc5", source),
      (d) => {
        seen.push(d.chunk);
        controller.abort(new Error("deleted"));
      },
      controller.signal,
    );
    await expect(run).rejects.toThrow("deleted");
    expect(seen).toEqual([1]);
  }, 30_000);
});
