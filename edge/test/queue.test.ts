import { outputPrefix, sourceKey, TRANSCODE_QUEUE, type TranscodeJob } from "@streamlet/shared";
import { type Job, Queue, UnrecoverableError, Worker } from "bullmq";
import IORedis from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { hasRedisServer, startRedis } from "../../transcoder/test/helpers/redis.ts";
import { HttpError } from "../src/errors.ts";
import { enqueueTranscode, removeTranscodeJob, requeueTranscode } from "../src/queue.ts";

const jobOf = (run?: number): TranscodeJob => {
  const videoId = crypto.randomUUID();
  return {
    videoId,
    ownerId: crypto.randomUUID(),
    input: { key: sourceKey(videoId) },
    output: { prefix: outputPrefix(videoId) },
    progressToken: "token",
    ...(run === undefined ? {} : { run }),
  };
};

describe.skipIf(!hasRedisServer)("the transcode queue from the edge (Redis)", () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let connection: IORedis;
  let queue: Queue<TranscodeJob>;
  /** What the test's transcoder does with each job (by id): fail, complete, or hold it active. */
  const outcomes = new Map<string, () => Promise<unknown>>();
  const workers: Worker[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    connection = new IORedis(redis.url, { maxRetriesPerRequest: null });
    queue = new Queue<TranscodeJob>(TRANSCODE_QUEUE, { connection });
  });

  afterEach(async () => {
    for (const worker of workers.splice(0)) await worker.close(true);
    outcomes.clear();
    await queue.obliterate({ force: true });
  });

  afterAll(async () => {
    await queue?.close();
    connection?.disconnect();
    await redis?.stop();
  });

  /** Enqueues as POST /uploaded does and lets the connection go. */
  const enqueue = async (job: TranscodeJob) => (await enqueueTranscode(redis.url, job)).cleanup;
  const requeue = async (job: TranscodeJob) => (await requeueTranscode(redis.url, job)).cleanup;

  /** A transcoder taking the queue's jobs; resolves once `videoId`'s job reached `state`. */
  const transcoder = (videoId: string, state: "failed" | "completed" | "active") =>
    new Promise<void>((resolve) => {
      const worker = new Worker<TranscodeJob>(
        TRANSCODE_QUEUE,
        async (job: Job<TranscodeJob>) => outcomes.get(job.id ?? "")?.(),
        { connection: new IORedis(redis.url, { maxRetriesPerRequest: null }) },
      );
      workers.push(worker);
      worker.on(state, (job: Job | undefined) => {
        if (job?.id === videoId) resolve();
      });
    });

  const failing = () => Promise.reject(new UnrecoverableError("the encoder crashed"));
  const held = () => new Promise(() => {});

  async function refusal(promise: Promise<unknown>): Promise<HttpError> {
    const error = await promise.then(
      () => null,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(HttpError);
    return error as HttpError;
  }

  it("queues a failed video's next run: the kept failed job goes, the new run's job waits", async () => {
    const first = jobOf();
    await enqueue(first);
    outcomes.set(first.videoId, failing);
    await transcoder(first.videoId, "failed");
    for (const worker of workers.splice(0)) await worker.close();

    // Why a retry needs more than enqueueTranscode: the failed job is kept under the video's id.
    const second = { ...first, run: 2 };
    await enqueue(second);
    expect(await queue.getJobState(first.videoId)).toBe("failed");

    await requeue(second);
    const queued = await queue.getJob(first.videoId);
    expect(await queued?.getState()).toBe("waiting");
    expect(queued?.data).toEqual(second);
    expect(queued?.attemptsMade).toBe(0);
    expect(queued?.opts).toMatchObject({ attempts: 3, removeOnFail: { age: 7 * 86_400 } });
  });

  it("queues the next run after a completed one, and a run whose previous job is gone", async () => {
    const first = jobOf();
    await enqueue(first);
    outcomes.set(first.videoId, async () => "done");
    await transcoder(first.videoId, "completed");
    for (const worker of workers.splice(0)) await worker.close();
    await requeue({ ...first, run: 2 });
    expect((await queue.getJob(first.videoId))?.data.run).toBe(2);

    const cleaned = jobOf(3);
    await requeue(cleaned);
    expect((await queue.getJob(cleaned.videoId))?.data).toEqual(cleaned);
  });

  it("refuses (409 invalid_state) while the video's job still waits or runs, and leaves it alone", async () => {
    const waiting = jobOf();
    await enqueue(waiting);
    const refused = await refusal(requeue({ ...waiting, run: 2 }));
    expect(refused).toMatchObject({ status: 409, code: "invalid_state" });
    expect(refused.message).toContain("waiting");
    expect((await queue.getJob(waiting.videoId))?.data.run).toBeUndefined();

    outcomes.set(waiting.videoId, held);
    await transcoder(waiting.videoId, "active");
    expect(await refusal(requeue({ ...waiting, run: 2 }))).toMatchObject({
      status: 409,
      code: "invalid_state",
      message: expect.stringContaining("active"),
    });
    expect(await queue.getJobState(waiting.videoId)).toBe("active");
  });

  it("refuses a run that is not above the finished job's", async () => {
    const second = jobOf(2);
    await requeue(second);
    outcomes.set(second.videoId, failing);
    await transcoder(second.videoId, "failed");
    for (const run of [undefined, 1, 2]) {
      const { run: _, ...rest } = second;
      const again = run === undefined ? rest : { ...rest, run };
      expect(await refusal(requeue(again))).toMatchObject({ status: 409, code: "invalid_state" });
    }
    expect(await queue.getJobState(second.videoId)).toBe("failed");
  });

  it("removeTranscodeJob still removes a waiting job, reports an active one, and finds a removed one absent", async () => {
    const job = jobOf(2);
    await requeue(job);
    expect(await removeTranscodeJob(redis.url, job.videoId)).toBe("removed");
    expect(await removeTranscodeJob(redis.url, job.videoId)).toBe("absent");

    const running = jobOf();
    await enqueue(running);
    outcomes.set(running.videoId, held);
    await transcoder(running.videoId, "active");
    expect(await removeTranscodeJob(redis.url, running.videoId)).toBe("active");
  });

  it("answers 503 queue_unavailable when Redis cannot be reached", async () => {
    const error = await refusal(requeueTranscode("redis://127.0.0.1:1", jobOf(2)));
    expect(error).toMatchObject({ status: 503, code: "queue_unavailable" });
  }, 15_000);
});
