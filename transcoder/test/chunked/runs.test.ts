import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { outputPrefix, SEQ_EPOCH, seqAttempt, sourceKey, type TranscodeJob } from "@streamlet/shared";
import { type Job, UnrecoverableError, Worker } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { cancelKey, throwIfCancelled } from "../../src/chunked/cancel.ts";
import { chunkJobId, createQueueChunkRunner } from "../../src/chunked/queue-runner.ts";
import { type ChunkDone, ChunkJob } from "../../src/chunked/types.ts";
import { createLogger } from "../../src/log.ts";
import { type OpenProgress, processJob } from "../../src/process-job.ts";
import type { Storage } from "../../src/storage.ts";
import { testId } from "../helpers/ids.ts";
import { silentPublisher } from "../helpers/progress.ts";
import { hasRedisServer, startRedis } from "../helpers/redis.ts";
import { videoOf } from "./fixtures.ts";

const log = createLogger({}, () => {});

describe("a video's runs (a retry after it failed) on the transcoder side", () => {
  it("gives each run's chunks their own job ids, the first run keeping today's", () => {
    const videoId = testId("runs-ids");
    expect(chunkJobId(videoId, 3)).toBe(`${videoId}-c3`);
    expect(chunkJobId(videoId, 3, 1)).toBe(`${videoId}-c3`);
    expect(chunkJobId(videoId, 3, 2)).toBe(`${videoId}-r2-c3`);
    const ids = [1, 2, 3].flatMap((run) => [1, 2, 12].map((chunk) => chunkJobId(videoId, chunk, run)));
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("gives each run its own cancel flag, the first run keeping today's key", () => {
    const videoId = testId("runs-flag");
    expect(cancelKey(videoId)).toBe(`streamlet:chunks-cancelled:${videoId}`);
    expect(cancelKey(videoId, 1)).toBe(cancelKey(videoId));
    expect(cancelKey(videoId, 2)).toBe(`streamlet:chunks-cancelled:${videoId}:r2`);
  });

  it("carries the run in the chunk payload (optional, a positive integer)", () => {
    const { chunkCount: _count, source: _source, ...shared } = videoOf("runs-payload");
    expect(ChunkJob.parse({ ...shared, chunk: 1 }).run).toBeUndefined();
    expect(ChunkJob.parse({ ...shared, chunk: 1, run: 2 }).run).toBe(2);
    for (const run of [0, -1, 1.5])
      expect(ChunkJob.safeParse({ ...shared, chunk: 1, run }).success).toBe(false);
  });

  it("numbers a retried video's progress above every attempt of the run before", async () => {
    const channels: Parameters<OpenProgress>[0][] = [];
    const attempt = async (run: number | undefined, attemptsMade: number) => {
      const videoId = testId("runs-progress");
      const data: TranscodeJob = {
        videoId,
        input: { key: sourceKey(videoId) },
        output: { prefix: outputPrefix(videoId) },
        progressToken: "token",
        ...(run === undefined ? {} : { run }),
      };
      const storage = { deletePrefix: async () => 0 } as unknown as Storage;
      // The temp folder cannot be made: the attempt fails right after opening its progress channel.
      await expect(
        processJob(
          { id: videoId, data, attemptsMade, attemptsStarted: attemptsMade + 1, opts: { attempts: 3 } },
          {
            storage,
            openProgress: (channel) => {
              channels.push(channel);
              return silentPublisher();
            },
            log,
            workDir: join(tmpdir(), `streamlet-missing-${randomBytes(4).toString("hex")}`),
            ffmpegPath: "ffmpeg",
            ffprobePath: "ffprobe",
            encoder: { kind: "x264", preset: "ultrafast" },
          },
        ),
      ).rejects.toThrow();
      return channels.at(-1)?.attempt ?? 0;
    };
    // The first run numbers as before runs existed: the attempt itself.
    expect(await attempt(undefined, 0)).toBe(1);
    expect(await attempt(1, 2)).toBe(3);
    // The second run starts above the first run's last possible attempt.
    const second = await attempt(2, 0);
    expect(second).toBe(seqAttempt(2, 1));
    expect(second * SEQ_EPOCH).toBeGreaterThan(seqAttempt(1, 10_000) * SEQ_EPOCH + SEQ_EPOCH - 1);
    expect(await attempt(3, 1)).toBeGreaterThan(seqAttempt(2, 999));
  });
});

describe.skipIf(!hasRedisServer)("a retried video's chunks on the queue (Redis)", () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let client: Redis;
  const closers: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    client = new Redis(redis.url, { maxRetriesPerRequest: null });
  });

  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
  });

  afterAll(async () => {
    client?.disconnect();
    await redis?.stop();
  });

  /** A runner and a stand-in chunk worker on a queue of their own; `fails` says which chunk of which run fails. */
  const setup = (fails: (run: number, chunk: number) => boolean) => {
    const queueName = `runs-test-${randomBytes(4).toString("hex")}`;
    const runner = createQueueChunkRunner({ connection: client, log, queueName, pollMs: 50, attempts: 1 });
    const taken: { id: string; run: number; chunk: number }[] = [];
    const worker = new Worker<ChunkJob, ChunkDone>(
      queueName,
      async (job: Job<ChunkJob>) => {
        const { chunk, videoId } = job.data;
        const run = job.data.run ?? 1;
        // What the real chunk worker checks before encoding: this run's flag.
        await throwIfCancelled(client, videoId, job.data.run);
        taken.push({ id: job.id ?? "", run, chunk });
        if (fails(run, chunk)) throw new UnrecoverableError(`chunk ${chunk} of run ${run} is broken`);
        const segments = [{ index: chunk, durationSeconds: 1, bytes: 1 }];
        return { chunk, rungs: [{ rung: "180p", initSha256: "0".repeat(64), segments }] };
      },
      { connection: new Redis(redis.url, { maxRetriesPerRequest: null }) },
    );
    closers.push(
      () => runner.close(),
      () => worker.close(true),
    );
    return { runner, taken, queueName };
  };

  it("runs every chunk again for the next run, leaving the failed run's jobs and cancel flag alone", async () => {
    const { runner, taken, queueName } = setup((run, chunk) => run === 1 && chunk === 2);
    const first = videoOf("runs-queue");
    const { videoId, chunkCount } = first;
    const never = new AbortController().signal;

    const failure = await runner.run(first, () => {}, never).catch((err: unknown) => err);
    expect((failure as Error).message).toMatch(/chunk 2 of run 1 is broken/);
    expect(await client.exists(cancelKey(videoId))).toBe(1);
    const firstRun = taken.filter((t) => t.run === 1).map((t) => t.chunk);
    expect(firstRun).toContain(2);

    const second = { ...first, run: 2 };
    const done: number[] = [];
    await runner.run(second, (d) => void done.push(d.chunk), never);
    const all = Array.from({ length: chunkCount }, (_, i) => i + 1);
    expect(done.sort((a, b) => a - b)).toEqual(all);
    // Chunk 1 stored in the first run is encoded again: that run's output was removed when it failed.
    const secondRun = taken.filter((t) => t.run === 2);
    expect(secondRun.map((t) => t.chunk).sort((a, b) => a - b)).toEqual(all);
    expect(secondRun.map((t) => t.id).sort()).toEqual(all.map((c) => chunkJobId(videoId, c, 2)).sort());
    // The first run's flag still stops its stragglers; the second run's is down.
    expect(await client.exists(cancelKey(videoId))).toBe(1);
    expect(await client.exists(cancelKey(videoId, 2))).toBe(0);

    // forget() removes one run's jobs only.
    const stored = async (id: string) => (await client.exists(`bull:${queueName}:${id}`)) === 1;
    expect(await stored(chunkJobId(videoId, 1, 2))).toBe(true);
    await runner.forget(videoId, chunkCount, 2);
    for (const c of all) expect(await stored(chunkJobId(videoId, c, 2))).toBe(false);
    expect(await stored(chunkJobId(videoId, 1))).toBe(true);
  });
});
