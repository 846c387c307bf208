import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { CHUNK_QUEUE, outputPrefix, type ProgressEvent, sourceKey, TRANSCODE_QUEUE } from "@streamlet/shared";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  type apiClient,
  signedUpClient,
  waitForTerminal,
  watchProgress,
} from "../../../scripts/stack/client.ts";
import { makeClip } from "../../../scripts/stack/clip.ts";
import { run } from "../../../scripts/stack/proc.ts";
import { videoCacheTag } from "../../src/play/cache-tag.ts";
import { config, edge, listKeys } from "./helpers.ts";

// DELETE of a video whose transcode is running (the job stops and removes what it uploaded), and the
// global cache purge a visibility change or a delete sends to Cloudflare's API (a fake API here, see
// scripts/stack/fake-cloudflare-api.ts: the real one is out of reach and must not be purged by tests).
const purgeRequestsUrl = inject("purgeRequestsUrl");
const connection = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
const queue = new Queue(TRANSCODE_QUEUE, { connection });
const chunkQueue = new Queue(CHUNK_QUEUE, { connection });
let dir: string;
let longClip: string;
let shortClip: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "streamlet-delete-"));
  // Long enough that the encode is still running when the DELETE arrives on a 2-core machine: the DELETE
  // goes out once chunk 1 (1 s of 5 chunks: 20 %) is stored, with 23 s of 720p still to encode.
  longClip = await makeClip(path.join(dir, "long.mp4"), { seconds: 24, width: 1280, height: 720 });
  shortClip = await makeClip(path.join(dir, "short.mp4"), { seconds: 3, width: 640, height: 360 });
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await queue.close();
  await chunkQueue.close();
  connection.disconnect();
});

async function until<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, ms = 60_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const newUser = () => signedUpClient(edge, "delete");

async function upload(api: ReturnType<typeof apiClient>, file: string) {
  const created = await api.createVideo(path.basename(file), file);
  await api.upload(created, file);
  await api.markUploaded(created.video.id);
  return created.video.id;
}

describe("deleting a video", () => {
  it("stops its running transcode: ffmpeg killed, uploaded output removed, the worker goes on", async () => {
    const api = await newUser();
    const id = await upload(api, longClip);
    const events: ProgressEvent[] = [];
    const errors: string[] = [];
    const sub = watchProgress(edge, id, api.accessToken(), {
      onEvent: (e) => events.push(e),
      onError: (e) => errors.push(e.kind),
    });
    try {
      await until(
        "the encode to be under way",
        async () => events.at(-1),
        (e) => e?.type === "transcoding" && e.percent > 5,
        120_000,
      );
      const res = await api.api.DELETE("/v1/videos/{id}", { params: { path: { id } } });
      expect(res.response.status).toBe(204);
      // The owner's live view ends with "video deleted" (close 4410), and stops reconnecting.
      await until(
        "the subscriber to hear it",
        async () => errors,
        (e) => e.includes("deleted"),
        10_000,
      );
    } finally {
      sub.close();
    }

    // The job ends cancelled (failed without retries, reason said), well before the encode would have.
    const job = await until(
      "the job to end",
      async () => queue.getJob(id),
      (j) => j?.finishedOn !== undefined,
      30_000,
    );
    expect(await job?.getState()).toBe("failed");
    expect(job?.failedReason).toBe("the video was deleted while it was being processed");
    expect(job?.attemptsMade).toBe(1);
    // No chunk of it is left to run, and no ffmpeg of this video is left running (its work folders, in
    // the arguments, are named after it: the coordinator's and each chunk's).
    const chunks = await until(
      "its chunk jobs to stop",
      async () =>
        (await chunkQueue.getJobs(["waiting", "prioritized", "delayed", "active"])).filter((j) =>
          j.id?.startsWith(`${id}-c`),
        ),
      (left) => left.length === 0,
      30_000,
    );
    expect(chunks).toEqual([]);
    const ffmpegs = await run("pgrep", ["-f", `ffmpeg.*streamlet-(chunk-)?${id}`]).catch(() => "");
    expect(ffmpegs.trim()).toBe("");
    // Nothing of the video is left in storage, now or a moment later (no late upload lands).
    expect(await listKeys(outputPrefix(id))).toEqual([]);
    expect(await listKeys(sourceKey(id))).toEqual([]);
    await new Promise((r) => setTimeout(r, 2000));
    expect(await listKeys(outputPrefix(id))).toEqual([]);
    const gone = await api.api.GET("/v1/videos/{id}", { params: { path: { id } } });
    expect(gone.response.status).toBe(404);

    // The worker is fine and takes the next job.
    const next = await upload(api, shortClip);
    expect((await waitForTerminal(api, next, { timeoutMs: 120_000 })).status).toBe("ready");
  }, 300_000);
});

describe("global cache purge", () => {
  const purgesFor = async (id: string) => {
    const all = (await (await fetch(purgeRequestsUrl)).json()) as {
      zoneId: string;
      authorized: boolean;
      body: { tags?: string[] };
    }[];
    return all.filter((r) => r.body?.tags?.includes(videoCacheTag(id)));
  };

  it("tags cached assets, and purges them by tag everywhere on a visibility change and on delete", async () => {
    const api = await newUser();
    const id = await upload(api, shortClip);
    const video = await waitForTerminal(api, id, { timeoutMs: 120_000 });
    expect(video.status).toBe("ready");
    const master = `${edge}/v1/play/${id}/master.m3u8`;
    for (let i = 0; i < 2; i++) {
      const res = await fetch(master); // the second one is a cache hit
      expect(res.status).toBe(200);
      expect(res.headers.get("cache-tag")).toBeNull(); // internal: never sent to viewers
      await res.text();
    }
    expect(await purgesFor(id)).toEqual([]);

    const patched = await api.api.PATCH("/v1/videos/{id}", {
      params: { path: { id } },
      body: { visibility: "private" },
    });
    expect(patched.response.status).toBe(200);
    const first = await until(
      "the purge request",
      () => purgesFor(id),
      (r) => r.length === 1,
      10_000,
    );
    expect(first[0]).toMatchObject({ zoneId: config.cachePurge?.zoneId, authorized: true });
    expect(first[0]?.body).toEqual({ tags: [videoCacheTag(id)] });
    // This data centre's copy went too: without the token the private video is not served.
    expect((await fetch(master)).status).toBe(404);

    const res = await api.api.DELETE("/v1/videos/{id}", { params: { path: { id } } });
    expect(res.response.status).toBe(204);
    await until(
      "the second purge request",
      () => purgesFor(id),
      (r) => r.length === 2,
      10_000,
    );
  }, 200_000);
});
