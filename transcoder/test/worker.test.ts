import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Queue, QueueEvents } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.ts";
import { createLogger } from "../src/log.ts";
import { createStorage } from "../src/storage.ts";
import { createWorker } from "../src/worker.ts";
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
    await storage.putBody("sources/vid_w1", await readFile(clip), "video/mp4");
    await storage.putBody("sources/vid_w2", randomBytes(64 * 1024), "application/octet-stream");
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
  const stagesOf = (videoId: string) =>
    published
      .filter(([id]) => id === videoId)
      .map(([, type]) => type)
      .filter((t, i, all) => t !== all[i - 1]);

  const add = (videoId: string) =>
    queue.add(
      "transcode",
      {
        videoId,
        input: { key: `sources/${videoId}` },
        output: { prefix: `videos/${videoId}/` },
        progressToken: `token-${videoId}`,
      },
      { jobId: videoId, attempts: 3, backoff: { type: "exponential", delay: 5000 } },
    );

  it("completes a good job (no audio: a video-only ladder)", async () => {
    const job = await add("vid_w1");
    const result = await job.waitUntilFinished(events, 60_000);
    expect(result.renditions.map((r: { name: string }) => r.name)).toEqual(["240p"]);
    expect(stagesOf("vid_w1")).toEqual(["downloading", "probing", "transcoding", "uploading", "ready"]);
    const master = await (await s3.get("videos/vid_w1/master.m3u8")).text();
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
