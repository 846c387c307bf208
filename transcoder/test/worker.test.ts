import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { MASTER_PLAYLIST, outputPrefix, sourceKey } from "@streamlet/shared";
import { Queue, QueueEvents } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.ts";
import { createLogger } from "../src/log.ts";
import { createStorage, type Storage } from "../src/storage.ts";
import { createWorker, drainWorker, type WorkerHooks } from "../src/worker.ts";
import { testId } from "./helpers/ids.ts";
import { silentPublisher } from "./helpers/progress.ts";
import { hasRedisServer, startRedis } from "./helpers/redis.ts";
import { startS3, type TestS3 } from "./helpers/s3.ts";

const run = promisify(execFile);

describe.skipIf(!hasRedisServer)("BullMQ worker against a real Redis", () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let s3: TestS3;
  let dir: string;
  let queue: Queue;
  let events: QueueEvents;
  const queueName = `transcode-test-${randomBytes(4).toString("hex")}`;
  /** [videoId, event type] for every event published and every terminal one. */
  const published: [string, string][] = [];
  let worker: ReturnType<typeof createWorker>;

  beforeAll(async () => {
    [redis, s3] = await Promise.all([startRedis(), startS3()]);
    dir = await mkdtemp(join(tmpdir(), "streamlet-worker-"));
    const config = loadConfig({
      REDIS_URL: redis.url,
      S3_ENDPOINT: s3.config.endpoint,
      S3_BUCKET: s3.config.bucket,
      S3_ACCESS_KEY_ID: s3.config.accessKeyId,
      S3_SECRET_ACCESS_KEY: s3.config.secretAccessKey,
      EDGE_URL: "http://127.0.0.1:1",
      TRANSCODER_SECRET: "0123456789abcdef",
      WORK_DIR: dir,
    });
    worker = createWorker(config, {
      log: createLogger({}, () => {}),
      queueName,
      openProgress: ({ videoId }) => ({
        publish: (update) => {
          published.push([videoId, update.type]);
        },
        finish: async (update) => {
          published.push([videoId, update.type]);
        },
        close: () => {},
        unacked: 0,
        refusal: null,
        cancelled: new AbortController().signal,
      }),
    });
    const connection = { url: redis.url };
    queue = new Queue(queueName, { connection });
    events = new QueueEvents(queueName, { connection });
    await Promise.all([worker.waitUntilReady(), events.waitUntilReady()]);

    const clip = join(dir, "clip.mp4");
    await run("ffmpeg", [
      ...["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=426x240:rate=25", "-t", "3"],
      ...["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", clip],
    ]);
    const storage = createStorage(s3.config);
    await storage.putBody(sourceKey(testId("vid_w1")), await readFile(clip), "video/mp4");
    await storage.putBody(sourceKey(testId("vid_w2")), randomBytes(64 * 1024), "application/octet-stream");
  }, 60_000);

  afterAll(async () => {
    await worker?.close();
    await events?.close();
    await queue?.obliterate({ force: true }).catch(() => {});
    await queue?.close();
    await redis?.stop();
    await s3?.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** The stages a video went through, repeats collapsed. */
  const stagesOf = (name: string) =>
    published
      .filter(([id]) => id === testId(name))
      .map(([, type]) => type)
      .filter((t, i, all) => t !== all[i - 1]);

  /** Queues the video named `name` (its id: testId(name)) under job id `name`. */
  const add = (name: string) =>
    queue.add(
      "transcode",
      {
        videoId: testId(name),
        ownerId: testId("owner"),
        input: { key: sourceKey(testId(name)) },
        output: { prefix: outputPrefix(testId(name)) },
        progressToken: `token-${name}`,
      },
      { jobId: name, attempts: 3, backoff: { type: "exponential", delay: 5000 } },
    );

  it("completes a good job (no audio: a video-only ladder)", async () => {
    const job = await add("vid_w1");
    const result = await job.waitUntilFinished(events, 60_000);
    expect(result.renditions.map((r: { name: string }) => r.name)).toEqual(["240p"]);
    expect(stagesOf("vid_w1")).toEqual([
      "downloading",
      "probing",
      "transcoding",
      "playable",
      "transcoding",
      "ready",
    ]);
    const master = await (await s3.get(`${outputPrefix(testId("vid_w1"))}${MASTER_PLAYLIST}`)).text();
    expect(master).not.toContain("EXT-X-MEDIA");
    expect(master).toMatch(
      /CODECS="avc1\.64[0-9a-f]{4}",RESOLUTION=426x240,FRAME-RATE=25\.000\n240p\/index\.m3u8/,
    );
  }, 60_000);

  it("fails bad media once, without retries, and keeps running", async () => {
    const job = await add("vid_w2");
    await expect(job.waitUntilFinished(events, 30_000)).rejects.toThrow(/not a video FFmpeg can read/);
    const failed = await queue.getJob("vid_w2");
    expect(failed?.attemptsMade).toBe(1);
    expect(await failed?.getState()).toBe("failed");
    expect(worker.isRunning()).toBe(true);
    expect(stagesOf("vid_w2")).toEqual(["downloading", "probing", "failed"]);
  }, 60_000);

  it("close() stops the worker cleanly", async () => {
    await worker.close();
    expect(worker.isRunning()).toBe(false);
  });
});

describe.skipIf(!hasRedisServer)("shutdown hand-back and lost locks (real Redis)", () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let dir: string;
  const connection = () => ({ url: redis.url });
  const closers: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    redis = await startRedis();
    dir = await mkdtemp(join(tmpdir(), "streamlet-drain-"));
  }, 30_000);

  afterAll(async () => {
    for (const close of closers.reverse()) await close().catch(() => {});
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** A download that never ends until the attempt is aborted: a job that is "mid-encode" for as long as we like. */
  const hangingStorage: Storage = {
    download: (_key, _file, signal) =>
      new Promise((_, reject) => {
        signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
      }),
    putFile: async () => {},
    putBody: async () => {},
    deletePrefix: async () => 0,
    presignGet: async (key) => `http://127.0.0.1:9/${key}`,
  };

  const setup = async (env: Record<string, string> = {}, storage: Storage = hangingStorage) => {
    const queueName = `transcode-drain-${randomBytes(4).toString("hex")}`;
    const config = loadConfig({
      REDIS_URL: redis.url,
      S3_ENDPOINT: "http://127.0.0.1:1",
      S3_BUCKET: "b",
      S3_ACCESS_KEY_ID: "k",
      S3_SECRET_ACCESS_KEY: "s",
      EDGE_URL: "http://127.0.0.1:1",
      TRANSCODER_SECRET: "0123456789abcdef",
      WORK_DIR: dir,
      ...env,
    });
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({}, (line) => lines.push(JSON.parse(line)));
    const ended: Parameters<NonNullable<WorkerHooks["jobEnded"]>>[0][] = [];
    const lockLost: string[][] = [];
    const worker = createWorker(config, {
      log,
      queueName,
      storage,
      openProgress: () => silentPublisher(),
      hooks: { jobEnded: (info) => ended.push(info), lockLost: (ids) => lockLost.push(ids) },
    });
    const queue = new Queue(queueName, { connection: connection() });
    const events = new QueueEvents(queueName, { connection: connection() });
    const failed: string[] = [];
    events.on("failed", ({ jobId }) => failed.push(jobId));
    closers.push(
      () => worker.close(true),
      () => events.close(),
      () => queue.close(),
    );
    await Promise.all([worker.waitUntilReady(), events.waitUntilReady()]);
    const add = (name: string) =>
      queue.add(
        "transcode",
        {
          videoId: testId(name),
          ownerId: testId("owner"),
          input: { key: sourceKey(testId(name)) },
          output: { prefix: outputPrefix(testId(name)) },
          progressToken: `token-${name}`,
        },
        { jobId: name, attempts: 3 },
      );
    const untilActive = async (jobId: string) => {
      for (let i = 0; i < 100 && !worker.runningJobIds().includes(jobId); i++) await sleep(50);
      expect(worker.runningJobIds()).toContain(jobId);
    };
    return { worker, queue, events, failed, ended, lockLost, lines, log, add, untilActive };
  };

  it("hands a running job back at once when there is no grace: waiting, no attempt used, no failure", async () => {
    const t = await setup();
    await t.add("vid_h1");
    await t.untilActive("vid_h1");
    const drain = drainWorker(t.worker, { graceMs: 0, log: t.log });
    await drain.closed;
    const job = await t.queue.getJob("vid_h1");
    expect(await job?.getState()).toBe("waiting");
    expect(job?.attemptsMade).toBe(0);
    expect(job?.attemptsStarted).toBe(1);
    expect(t.failed).toEqual([]);
    expect(t.ended).toMatchObject([{ jobId: "vid_h1", outcome: "handed_back", why: "shutdown", attempt: 1 }]);
    expect(t.lines).toContainEqual(
      expect.objectContaining({ msg: "job handed back to the queue", jobId: "vid_h1" }),
    );
  }, 20_000);

  it("waits out the grace, takes no new job meanwhile, then hands back", async () => {
    const t = await setup();
    await t.add("vid_h2");
    await t.untilActive("vid_h2");
    const started = Date.now();
    const drain = drainWorker(t.worker, { graceMs: 800, log: t.log });
    await t.add("vid_h3");
    await sleep(300);
    expect(await (await t.queue.getJob("vid_h2"))?.getState()).toBe("active");
    await drain.closed;
    expect(Date.now() - started).toBeGreaterThanOrEqual(750);
    expect(await (await t.queue.getJob("vid_h2"))?.getState()).toBe("waiting");
    const next = await t.queue.getJob("vid_h3");
    expect(await next?.getState()).toBe("waiting");
    expect(next?.attemptsStarted ?? 0).toBe(0);
    // Handed back to the head of the list: the next node takes the interrupted job first.
    expect(await t.queue.getWaiting()).toMatchObject([{ id: "vid_h2" }, { id: "vid_h3" }]);
  }, 20_000);

  it("a second call hands back before the grace runs out", async () => {
    const t = await setup();
    await t.add("vid_h4");
    await t.untilActive("vid_h4");
    const started = Date.now();
    const drain = drainWorker(t.worker, { graceMs: 60_000, log: t.log });
    drain.handBack("second SIGTERM");
    await drain.closed;
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await (await t.queue.getJob("vid_h4"))?.getState()).toBe("waiting");
  }, 20_000);

  it("reports jobs that ignore the hand-back, so the process can exit and leave them to the stall check", async () => {
    let release: (err: Error) => void = () => {};
    let downloading = () => {};
    const started = new Promise<void>((resolve) => {
      downloading = resolve;
    });
    const deaf: Storage = {
      ...hangingStorage,
      download: () =>
        new Promise<number>((_, reject) => {
          release = reject;
          downloading();
        }),
    };
    const t = await setup({}, deaf);
    await t.add("vid_h5");
    await t.untilActive("vid_h5");
    // The download starts once ffprobe has given up on the (unreachable) URL; from then on the job
    // cannot be stopped.
    await started;
    const stuck = new Promise<string[]>((resolve) => {
      drainWorker(t.worker, { graceMs: 0, log: t.log, stuckMs: 300, onStuck: resolve });
    });
    expect(await stuck).toEqual(["vid_h5"]);
    release(new Error("finally stopped")); // let the worker close
  }, 20_000);

  it("stops a job whose lock is lost instead of running on as a zombie, and never fails it", async () => {
    const t = await setup({ LOCK_DURATION_MS: "1000", STALLED_INTERVAL_MS: "500" });
    await t.add("vid_l1");
    await t.untilActive("vid_l1");
    // Another node "took" the job: its lock now holds someone else's token.
    const lockKey = `bull:${t.queue.name}:vid_l1:lock`;
    const redisClient = new Redis(redis.url);
    closers.push(() => redisClient.quit());
    await redisClient.set(lockKey, "someone-else", "PX", 60_000);
    for (let i = 0; i < 60 && t.worker.runningJobIds().includes("vid_l1"); i++) await sleep(50);
    expect(t.worker.runningJobIds()).not.toContain("vid_l1");
    expect(t.lockLost).toContainEqual(["vid_l1"]);
    expect(t.ended).toMatchObject([{ jobId: "vid_l1", outcome: "handed_back", why: "lock_lost" }]);
    expect(t.failed).toEqual([]);
    const job = await t.queue.getJob("vid_l1");
    expect(job?.attemptsMade).toBe(0);
    expect(await job?.getState()).toBe("active"); // left alone for whoever holds the lock
    await redisClient.del(lockKey);
  }, 20_000);
});
