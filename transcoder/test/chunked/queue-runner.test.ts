import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { outputPrefix, sourceKey } from "@streamlet/shared";
import { Queue, UnrecoverableError } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { cancelKey } from "../../src/chunked/cancel.ts";
import { type ChunkWorker, createChunkWorker } from "../../src/chunked/chunk-worker.ts";
import { ChunkFailedError, chunkJobId, createQueueChunkRunner } from "../../src/chunked/queue-runner.ts";
import type { ChunkDone } from "../../src/chunked/types.ts";
import { loadConfig } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import { createStorage, type Storage } from "../../src/storage.ts";
import { hasRedisServer, startRedis } from "../helpers/redis.ts";
import { startS3, type TestS3 } from "../helpers/s3.ts";
import { expectedKeys, makeClip, videoOf } from "./fixtures.ts";

const log = createLogger({}, () => {});

describe.skipIf(!hasRedisServer)("queue chunk runner + chunk workers (Redis, s3rver, ffmpeg)", () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let s3: TestS3;
  let dir: string;
  let storage: Storage;
  let client: Redis;
  const closers: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    [redis, s3] = await Promise.all([startRedis(), startS3()]);
    dir = await mkdtemp(join(tmpdir(), "streamlet-chunked-"));
    storage = createStorage(s3.config);
    client = new Redis(redis.url, { maxRetriesPerRequest: null });
    const clip = join(dir, "clip.mp4");
    await makeClip(clip);
    const body = await readFile(clip);
    for (const name of ["q1", "q2a", "q2b", "q3", "q4", "q5"]) {
      await storage.putBody(sourceKey(videoOf(name).videoId), body, "video/mp4");
    }
    await storage.putBody(
      sourceKey(videoOf("q6").videoId),
      randomBytes(32 * 1024),
      "application/octet-stream",
    );
  }, 30_000);

  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
  });

  afterAll(async () => {
    client?.disconnect();
    await redis?.stop();
    await s3?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const setup = () => {
    const queueName = `chunks-test-${randomBytes(4).toString("hex")}`;
    const runner = createQueueChunkRunner({
      connection: client,
      log,
      queueName,
      pollMs: 100,
      backoffMs: 50,
      attempts: 2,
      stopTimeoutMs: 10_000,
    });
    closers.push(() => runner.close());
    const ended: string[] = [];
    const worker = async (name: string, store: Storage = storage): Promise<ChunkWorker> => {
      const config = loadConfig({
        REDIS_URL: redis.url,
        S3_ENDPOINT: s3.config.endpoint,
        S3_BUCKET: s3.config.bucket,
        S3_ACCESS_KEY_ID: s3.config.accessKeyId,
        S3_SECRET_ACCESS_KEY: s3.config.secretAccessKey,
        EDGE_URL: "http://127.0.0.1:1",
        TRANSCODER_SECRET: "0123456789abcdef",
        WORK_DIR: await mkdtemp(join(dir, `${name}-`)),
        X264_PRESET: "ultrafast",
        LOCK_DURATION_MS: "1000",
        STALLED_INTERVAL_MS: "500",
      });
      const w = createChunkWorker(config, {
        log,
        queueName,
        storage: store,
        concurrency: 1,
        hooks: { chunkEnded: ({ jobId, outcome }) => ended.push(`${jobId}:${outcome}`) },
      });
      closers.push(() => w.close(true));
      await w.waitUntilReady();
      return w;
    };
    const queue = new Queue(queueName, { connection: client });
    closers.push(() => queue.close());
    return { runner, worker, ended, queue };
  };

  const untilRunning = async (w: ChunkWorker, jobId: string) => {
    for (let i = 0; i < 200 && !w.runningJobIds().includes(jobId); i++) await sleep(25);
    expect(w.runningJobIds()).toContain(jobId);
  };

  it("two workers store every chunk; onDone hears each once; a restarted run re-encodes nothing", async () => {
    const t = setup();
    await Promise.all([t.worker("a"), t.worker("b")]);
    const video = videoOf("q1");
    const seen: ChunkDone[] = [];
    await t.runner.run(video, (d) => void seen.push(d), new AbortController().signal);
    expect(seen.map((d) => d.chunk).sort()).toEqual([1, 2, 3, 4, 5]);
    const prefix = outputPrefix(video.videoId);
    expect(await s3.list(prefix)).toEqual(expectedKeys(prefix));
    expect(new Set(seen.flatMap((d) => d.rungs.map((r) => `${r.rung}:${r.initSha256}`))).size).toBe(2);

    // Another coordinator (a restart) finds the done chunks' results and adds nothing.
    const puts = s3.puts.length;
    const again: number[] = [];
    await t.runner.run(video, (d) => void again.push(d.chunk), new AbortController().signal);
    expect(again.sort()).toEqual([1, 2, 3, 4, 5]);
    expect(s3.puts.length).toBe(puts);

    await t.runner.forget(video.videoId, video.chunkCount);
    expect(await t.queue.getJob(chunkJobId(video.videoId, 1))).toBeUndefined();
  }, 50_000);

  it("a new video's first chunk goes ahead of an older video's later chunks", async () => {
    const t = setup();
    const w = await t.worker("p");
    const older = videoOf("q2a");
    const newer = videoOf("q2b");
    const never = new AbortController().signal;
    const first = t.runner.run(older, () => {}, never);
    await untilRunning(w, chunkJobId(older.videoId, 1));
    const second = t.runner.run(newer, () => {}, never);
    await Promise.all([first, second]);
    const order = t.ended.map((e) => e.replace(/:completed$/, ""));
    const a = (c: number) => chunkJobId(older.videoId, c);
    const b = (c: number) => chunkJobId(newer.videoId, c);
    expect(order).toEqual([a(1), b(1), a(2), b(2), a(3), a(4), a(5), b(3), b(4), b(5)]);
  }, 50_000);

  it("a chunk whose worker dies mid-job is redone by the other worker; the output is complete", async () => {
    const t = setup();
    // The victim's download never ends until the job is stopped: it is "mid-job" as long as we like.
    const hanging: Storage = {
      ...storage,
      download: (_key, _path, signal) =>
        new Promise<number>((_, reject) => signal?.addEventListener("abort", () => reject(signal.reason))),
    };
    const victim = await t.worker("victim", hanging);
    const video = videoOf("q3");
    const seen: number[] = [];
    const run = t.runner.run(video, (d) => void seen.push(d.chunk), new AbortController().signal);
    const id = chunkJobId(video.videoId, 1);
    await untilRunning(victim, id);
    // The victim stops renewing its lock (as a frozen or killed node would): another holder for a while.
    await client.set(`bull:${t.queue.name}:${id}:lock`, "someone-else", "PX", 1200);
    for (let i = 0; i < 100 && victim.runningJobIds().includes(id); i++) await sleep(50);
    expect(victim.runningJobIds()).not.toContain(id);
    // Then it dies: whatever it took next (chunk 2, hanging too) is left to the stalled check.
    await victim.close(true);
    await t.worker("survivor");
    await run;
    expect(seen.sort()).toEqual([1, 2, 3, 4, 5]);
    const prefix = outputPrefix(video.videoId);
    expect(await s3.list(prefix)).toEqual(expectedKeys(prefix));
    expect(t.ended).toContain(`${id}:handed_back`);
    expect(t.ended).toContain(`${id}:completed`);
    expect((await t.queue.getJob(id))?.stalledCounter).toBe(1);
  }, 50_000);

  it("on its signal: queued chunks removed, the running one stopped, run() rejects, nothing left after cleanup", async () => {
    const t = setup();
    const video = videoOf("q4");
    // Chunk 1 stores normally; the uploads of later chunks wait until the chunk is stopped.
    const slow: Storage = {
      ...storage,
      putFile: async (key, path, type, signal) => {
        if (!key.endsWith("seg_00001.m4s") && !key.endsWith("init.mp4")) {
          await new Promise((_, reject) => signal?.addEventListener("abort", () => reject(signal.reason)));
        }
        return storage.putFile(key, path, type, signal);
      },
    };
    const w = await t.worker("c", slow);
    const controller = new AbortController();
    const seen: number[] = [];
    const run = t.runner.run(video, (d) => void seen.push(d.chunk), controller.signal);
    await untilRunning(w, chunkJobId(video.videoId, 2));
    for (let i = 0; i < 100 && !seen.includes(1); i++) await sleep(25);
    controller.abort(new Error("video deleted"));
    await expect(run).rejects.toThrow("video deleted");
    expect(seen).toEqual([1]);
    expect(w.runningJobIds()).toEqual([]);
    const two = await t.queue.getJob(chunkJobId(video.videoId, 2));
    expect(await two?.getState()).toBe("failed");
    expect(two?.failedReason).toBe("cancelled");
    expect(two?.attemptsMade).toBe(1); // no retry
    for (const c of [3, 4, 5]) expect(await t.queue.getJob(chunkJobId(video.videoId, c))).toBeUndefined();
    expect(await client.ttl(cancelKey(video.videoId))).toBeGreaterThan(0);
    // The coordinator's cleanup; nothing comes back after it.
    await storage.deletePrefix(outputPrefix(video.videoId));
    await sleep(1500);
    expect(await s3.list(outputPrefix(video.videoId))).toEqual([]);
  }, 50_000);

  it("a chunk that cannot succeed rejects run() with its reason, at once", async () => {
    const t = setup();
    await t.worker("f");
    const base = videoOf("q5");
    const video = { ...base, chunkCount: base.chunkCount + 1 };
    const err = await t.runner.run(video, () => {}, new AbortController().signal).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnrecoverableError);
    expect((err as Error).message).toMatch(/chunk 6 is not in the plan/);
  }, 30_000);

  it("a chunk that fails every attempt (unreadable source) rejects run() after stopping the rest", async () => {
    const t = setup();
    await t.worker("g");
    const video = videoOf("q6");
    const err = await t.runner.run(video, () => {}, new AbortController().signal).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChunkFailedError);
    expect((err as Error).message).toMatch(/^chunk \d failed: /);
    expect(await client.exists(cancelKey(video.videoId))).toBe(1);
  }, 30_000);
});
