import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFile, mkdir, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { outputPrefix, sourceKey } from "@streamlet/shared";
import { type Job, Queue, QueueEvents } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.ts";
import { DEFER_DELAY_MS, deferDelayMs, deferIfOverShare, ownerOf } from "../src/fair-share.ts";
import { createLogger } from "../src/log.ts";
import type { Storage } from "../src/storage.ts";
import { createWorker } from "../src/worker.ts";
import { testId } from "./helpers/ids.ts";
import { hasRedisServer, startRedis } from "./helpers/redis.ts";

const run = promisify(execFile);
const quiet = createLogger({}, () => {});
const ALICE = testId("alice");
const BOB = testId("bob");

describe("deferIfOverShare", () => {
  const payload = (owner: string) => ({ ownerId: owner });
  /** A job as the processor sees it, recording where it was moved to. */
  const fakeJob = (id: string, owner: string) => {
    const moves: { timestamp: number; token: string | undefined }[] = [];
    return {
      id,
      data: payload(owner),
      moves,
      moveToDelayed: async (timestamp: number, token?: string) => {
        moves.push({ timestamp, token });
      },
    };
  };
  const active = (...jobs: [string, string][]) => {
    const list = jobs.map(([id, owner]) => ({ id, data: payload(owner) }));
    return async () => list;
  };

  it("lets a job run while its owner is within the limit; the job itself counts", async () => {
    const job = fakeJob("a2", ALICE);
    const options = { active: active(["a1", ALICE], ["a2", ALICE], ["b1", BOB]), limit: 2 };
    expect(await deferIfOverShare(job, "tok", options, quiet)).toBeNull();
    // The active list may not show the job yet: it still counts once, never twice.
    const alone = { active: active(["a1", ALICE], ["b1", BOB]), limit: 2 };
    expect(await deferIfOverShare(job, "tok", alone, quiet)).toBeNull();
    expect(job.moves).toEqual([]);
  });

  it("over the limit, moves the job to the delayed set with the lock's token and says so", async () => {
    const job = fakeJob("a3", ALICE);
    const before = Date.now();
    const deferral = await deferIfOverShare(
      job,
      "tok",
      {
        active: active(["a1", ALICE], ["a2", ALICE.toUpperCase()], ["a3", ALICE]),
        limit: 2,
        delayMs: () => 2500,
      },
      quiet,
    );
    expect(deferral).toEqual({ ownerId: ALICE, inFlight: 3, delayMs: 2500 });
    expect(job.moves).toHaveLength(1);
    expect(job.moves[0]?.token).toBe("tok");
    expect(job.moves[0]?.timestamp).toBeGreaterThanOrEqual(before + 2500);
  });

  it("runs the job when the count fails (best effort) or the payload names no owner", async () => {
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({}, (line) => lines.push(JSON.parse(line)));
    const job = fakeJob("a1", ALICE);
    const broken = {
      active: async () => {
        throw new Error("connection lost");
      },
      limit: 1,
    };
    expect(await deferIfOverShare(job, "tok", broken, log)).toBeNull();
    expect(lines).toMatchObject([{ level: "warn", error: "connection lost" }]);
    const ownerless = { ...fakeJob("x", ALICE), data: { videoId: "x" } };
    expect(await deferIfOverShare(ownerless, "tok", { active: active(), limit: 1 }, quiet)).toBeNull();
    expect(job.moves).toEqual([]);
  });

  it("lets a failed move through to the caller", async () => {
    const job = {
      ...fakeJob("a2", ALICE),
      moveToDelayed: async () => {
        throw new Error("Missing lock for job a2");
      },
    };
    await expect(
      deferIfOverShare(job, "tok", { active: active(["a1", ALICE]), limit: 1 }, quiet),
    ).rejects.toThrow(/Missing lock/);
  });

  it("draws delays of 2-5 s with jitter", () => {
    expect(DEFER_DELAY_MS).toEqual({ min: 2000, max: 5000 });
    expect(deferDelayMs(() => 0)).toBe(2000);
    expect(deferDelayMs(() => 0.999_999)).toBe(5000);
    const drawn = new Set(Array.from({ length: 20 }, () => deferDelayMs()));
    for (const d of drawn) expect(d >= 2000 && d <= 5000).toBe(true);
    expect(drawn.size).toBeGreaterThan(1);
  });

  it("reads the owner canonically, and only a real id", () => {
    expect(ownerOf({ ownerId: ALICE.toUpperCase() })).toBe(ALICE);
    expect(ownerOf({ ownerId: "alice" })).toBeNull();
    expect(ownerOf({ ownerId: 7 })).toBeNull();
    expect(ownerOf(null)).toBeNull();
  });
});

describe.skipIf(!hasRedisServer)("per-user limit on a real worker (real Redis, real BullMQ)", () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let dir: string;
  let workDir: string;
  let clip: string;
  const closers: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    redis = await startRedis();
    dir = await mkdtemp(join(tmpdir(), "streamlet-fair-"));
    workDir = join(dir, "work");
    await mkdir(workDir);
    clip = join(dir, "clip.mp4");
    await run("ffmpeg", [
      ...["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=426x240:rate=25", "-t", "1"],
      ...["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", clip],
    ]);
  }, 30_000);

  afterAll(async () => {
    for (const close of closers.reverse()) await close().catch(() => {});
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /**
   * Every source is the tiny clip, after a short wait (a job that takes a moment); what a job writes is
   * kept in a folder, so it reads its segments back before ready as it would from storage.
   */
  const stored = (key: string) => join(dir, "stored", key);
  const localStorage: Storage = {
    download: async (key, file) => {
      if (key.startsWith("sources/")) {
        await sleep(400);
        await copyFile(clip, file);
      } else {
        await copyFile(stored(key), file);
      }
      return (await stat(file)).size;
    },
    putFile: async (key, file) => {
      await mkdir(dirname(stored(key)), { recursive: true });
      await copyFile(file, stored(key));
    },
    putBody: async (key, body) => {
      await mkdir(dirname(stored(key)), { recursive: true });
      await writeFile(stored(key), body);
    },
    deletePrefix: async () => 0,
    presignGet: async (key) => `http://127.0.0.1:9/${key}`,
  };

  it("runs another user's job while one user's backlog waits its turn; no attempt used, none failed", async () => {
    const queueName = `transcode-fair-${randomBytes(4).toString("hex")}`;
    const config = loadConfig({
      REDIS_URL: redis.url,
      S3_ENDPOINT: "http://127.0.0.1:1",
      S3_BUCKET: "b",
      S3_ACCESS_KEY_ID: "k",
      S3_SECRET_ACCESS_KEY: "s",
      EDGE_URL: "http://127.0.0.1:1",
      TRANSCODER_SECRET: "0123456789abcdef",
      WORK_DIR: workDir,
      TRANSCODER_CONCURRENCY: "2",
      MAX_JOBS_IN_FLIGHT_PER_USER: "1",
      X264_PRESET: "ultrafast",
    });
    /** What happened, in order: real starts and ends, and deferrals. */
    const timeline: { jobId: string; what: "start" | "end" | "deferred"; outcome?: string }[] = [];
    const published: [string, string][] = [];
    const lines: Record<string, unknown>[] = [];
    let firstDeferral: (jobId: string) => void = () => {};
    const deferred = new Promise<string>((resolve) => {
      firstDeferral = resolve;
    });
    const worker = createWorker(config, {
      log: createLogger({}, (line) => lines.push(JSON.parse(line))),
      queueName,
      storage: localStorage,
      deferDelayMs: () => 300 + Math.floor(Math.random() * 300),
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
      hooks: {
        jobStarted: ({ jobId }) => timeline.push({ jobId, what: "start" }),
        jobEnded: ({ jobId, outcome }) => timeline.push({ jobId, what: "end", outcome }),
        jobDeferred: ({ jobId, reason }) => {
          expect(reason).toBe("user_in_flight");
          timeline.push({ jobId, what: "deferred" });
          firstDeferral(jobId);
        },
      },
    });
    const connection = { url: redis.url };
    const queue = new Queue(queueName, { connection });
    const events = new QueueEvents(queueName, { connection });
    const failed: string[] = [];
    events.on("failed", ({ jobId }) => failed.push(jobId));
    closers.push(
      () => worker.close(),
      () => events.close(),
      () => queue.obliterate({ force: true }).finally(() => queue.close()),
    );
    await Promise.all([worker.waitUntilReady(), events.waitUntilReady()]);

    const add = (name: string, ownerId: string) =>
      queue.add(
        "transcode",
        {
          videoId: testId(name),
          ownerId,
          input: { key: sourceKey(testId(name)) },
          output: { prefix: outputPrefix(testId(name)) },
          progressToken: `token-${name}`,
        },
        { jobId: name, attempts: 3, backoff: { type: "exponential", delay: 5000 } },
      );
    const jobs: Job[] = [];
    for (const name of ["a1", "a2", "a3"]) jobs.push(await add(name, ALICE));
    jobs.push(await add("b1", BOB));

    // A deferred job sits in the delayed set, its attempts untouched.
    const first = await deferred;
    const waiting = await queue.getJob(first);
    expect(await waiting?.getState()).toBe("delayed");
    expect(waiting?.attemptsMade).toBe(0);

    // Alice's three run one after another, each through the checks and assets made before ready.
    await Promise.all(jobs.map((job) => job.waitUntilFinished(events, 90_000)));

    const starts = timeline.filter((e) => e.what === "start").map((e) => e.jobId);
    // Each job ran exactly once: a deferral is neither a start nor an end.
    expect([...starts].sort()).toEqual(["a1", "a2", "a3", "b1"]);
    const aliceStarts = starts.filter((id) => id.startsWith("a"));
    expect(starts.indexOf("b1"), `starts: ${starts.join(", ")}`).toBeLessThan(
      starts.indexOf(aliceStarts[1] ?? ""),
    );
    // Never two of Alice's jobs at once.
    let running = 0;
    for (const e of timeline.filter((x) => x.jobId.startsWith("a"))) {
      if (e.what === "start") running++;
      if (e.what === "end") running--;
      expect(running).toBeLessThanOrEqual(1);
    }
    expect(timeline.filter((e) => e.what === "end").every((e) => e.outcome === "completed")).toBe(true);
    const deferrals = timeline.filter((e) => e.what === "deferred");
    expect(deferrals.length).toBeGreaterThan(0);
    expect(deferrals.every((e) => e.jobId.startsWith("a"))).toBe(true);

    expect(failed).toEqual([]);
    for (const name of ["a1", "a2", "a3", "b1"]) {
      const done = await queue.getJob(name);
      expect(await done?.getState()).toBe("completed");
      // One attempt made however often the job was deferred (attemptsStarted counts the deferrals).
      expect(done?.attemptsMade, name).toBe(1);
    }
    expect(published.filter(([, type]) => type === "failed")).toEqual([]);
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: "info",
        msg: "job deferred: its owner has the most jobs in flight allowed",
        ownerId: ALICE,
        limit: 1,
      }),
    );
    expect(await readdir(workDir)).toEqual([]);
  }, 100_000);
});
