import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import {
  CHUNK_QUEUE,
  MASTER_PLAYLIST,
  outputPrefix,
  SEGMENT_FILE,
  TRANSCODE_QUEUE,
  VARIANT_PLAYLIST,
} from "@streamlet/shared";
import { Queue, QueueEvents } from "bullmq";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { apiClient, waitForTerminal } from "../../../scripts/stack/client.ts";
import { makeClip } from "../../../scripts/stack/clip.ts";
import type { Managed } from "../../../scripts/stack/proc.ts";
import { type Stack, startStack } from "../../../scripts/stack/stack.ts";
import { planChunks } from "../../src/media/index.ts";
import { createS3Client } from "../../src/storage.ts";

/*
 * Node lifecycle with real transcoder processes: a crash (SIGKILL) mid-encode, a graceful SIGTERM
 * that finishes the job, a SIGTERM whose grace runs out (the job is handed back), and an encode that
 * outlives its lock many times over.
 *
 * Why a private Redis and edge: the global setup runs a transcoder on the stack's queue, and the edge
 * enqueues to that one fixed queue name. Its transcoder would race ours for these jobs, and we could
 * neither choose which process to kill nor give it short lock settings. So this file starts a second,
 * small stack: its own redis-server and its own `wrangler dev` edge (whose jobs therefore land in the
 * private Redis), sharing the global Postgres (+ Neon bridge) and s3rver. Only the processes started
 * here consume those jobs, and every one of them is stopped after each test.
 */

const CLIP_SECONDS = 12;
/** Short locks so a dead node's job is recovered within seconds (production: 5 min / 30 s). */
const FAST_LOCKS = { LOCK_DURATION_MS: "2000", STALLED_INTERVAL_MS: "1000" };

type LogLine = Record<string, unknown> & { msg?: string; jobId?: string; videoId?: string };

interface Node {
  name: string;
  proc: Managed;
  lines: LogLine[];
  /** Resolves with the first log line (already seen or future) that matches. */
  waitFor(match: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  has(match: (l: LogLine) => boolean): boolean;
}

let stack: Stack;
let dataDir: string;
let clip: string;
/** Twice as long, for the encode that must outlast its lock many times over. */
let longClip: string;
let queue: Queue;
let events: QueueEvents;
let api: ReturnType<typeof apiClient>;
let s3: { client: S3Client; bucket: string };
let nodes: Node[] = [];
/** QueueEvents seen by this file: [event, jobId]. */
const seen: [string, string][] = [];

beforeAll(async () => {
  const shared = inject("edgeVars");
  dataDir = mkdtempSync(path.join(os.tmpdir(), "streamlet-lifecycle-"));
  const pick = (...names: string[]) =>
    Object.fromEntries(names.map((n) => [n, shared[n]]).filter(([, v]) => v)) as NodeJS.ProcessEnv;
  const verbose = process.env.STACK_LOGS === "1";
  [stack, clip, longClip] = await Promise.all([
    startStack({
      dataDir,
      ports: "random",
      transcoders: 0,
      // Postgres, the Neon bridge and s3rver are the global stack's; Redis and the edge are started here.
      env: pick(
        "DATABASE_URL",
        "NEON_WS_PROXY",
        "S3_ENDPOINT",
        "S3_PUBLIC_ENDPOINT",
        "S3_BUCKET",
        "S3_REGION",
        "S3_ACCESS_KEY_ID",
        "S3_SECRET_ACCESS_KEY",
      ),
      log: (name) => (line) => {
        if (verbose) process.stderr.write(`[lifecycle ${name}] ${line}\n`);
      },
    }),
    makeClip(path.join(dataDir, "clip.mp4"), { seconds: CLIP_SECONDS, width: 1280, height: 720 }),
    makeClip(path.join(dataDir, "long.mp4"), { seconds: 2 * CLIP_SECONDS, width: 1280, height: 720 }),
  ]);
  const connection = { url: stack.transcoderVars.REDIS_URL ?? "" };
  queue = new Queue(TRANSCODE_QUEUE, { connection });
  events = new QueueEvents(TRANSCODE_QUEUE, { connection });
  for (const name of ["stalled", "failed", "completed"] as const) {
    events.on(name, ({ jobId }: { jobId: string }) => seen.push([name, jobId]));
  }
  await events.waitUntilReady();
  api = apiClient(stack.edgeUrl);
  await api.signup(`lifecycle-${randomBytes(6).toString("hex")}@example.com`, "a long enough password");
  const v = stack.transcoderVars;
  s3 = {
    client: createS3Client({
      endpoint: v.S3_ENDPOINT ?? "",
      bucket: v.S3_BUCKET ?? "",
      region: v.S3_REGION ?? "us-east-1",
      accessKeyId: v.S3_ACCESS_KEY_ID ?? "",
      secretAccessKey: v.S3_SECRET_ACCESS_KEY ?? "",
    }),
    bucket: v.S3_BUCKET ?? "",
  };
}, 180_000);

afterEach(async () => {
  await Promise.all(nodes.map((n) => n.proc.kill()));
  nodes = [];
});

afterAll(async () => {
  await events?.close();
  await queue?.close();
  await stack?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function startNode(name: string, env: Record<string, string> = {}): Promise<Node> {
  const lines: LogLine[] = [];
  const waiters = new Set<{ match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }>();
  const onLine = (text: string) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      return; // not one of our JSON log lines (a Node warning)
    }
    lines.push(line);
    for (const w of waiters) {
      if (w.match(line)) {
        waiters.delete(w);
        w.resolve(line);
      }
    }
  };
  const { proc } = await stack.addTranscoder(name, { env: { ...FAST_LOCKS, ...env }, onLine });
  const node: Node = {
    name,
    proc,
    lines,
    has: (match) => lines.some(match),
    waitFor: (match, timeoutMs = 60_000) => {
      const found = lines.find(match);
      if (found) return Promise.resolve(found);
      return new Promise<LogLine>((resolve, reject) => {
        const waiter = { match, resolve };
        waiters.add(waiter);
        setTimeout(() => {
          if (waiters.delete(waiter)) reject(new Error(`${name}: no matching log line in ${timeoutMs} ms`));
        }, timeoutMs).unref();
      });
    },
  };
  nodes.push(node);
  return node;
}

const started = (jobId: string) => (l: LogLine) => l.msg === "job started" && l.jobId === jobId;
const completed = (jobId: string) => (l: LogLine) => l.msg === "job completed" && l.jobId === jobId;
/** The ladder is planned and ffmpeg is about to run: the job is mid-encode from here on. */
const encoding = (jobId: string) => (l: LogLine) =>
  l.msg === "stage" && l.stage === "plan" && l.jobId === jobId;

/** Uploads the clip through the API as a browser would; returns the video (= job) id once queued. */
async function upload(file = clip): Promise<string> {
  const created = await api.createVideo(`lifecycle ${randomBytes(3).toString("hex")}`, file);
  await api.upload(created, file);
  await api.markUploaded(created.video.id);
  return created.video.id;
}

/** The node that picked the job up (whichever was free first). */
async function takenBy(jobId: string, candidates: Node[]): Promise<[Node, Node]> {
  const winner = await Promise.any(candidates.map((n) => n.waitFor(started(jobId)).then(() => n)));
  const other = candidates.find((n) => n !== winner);
  if (!other) throw new Error("need two nodes");
  return [winner, other];
}

async function listKeys(prefix: string): Promise<string[]> {
  const page = await s3.client.send(
    new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix, MaxKeys: 1000 }),
  );
  expect(page.IsTruncated).not.toBe(true);
  return (page.Contents ?? []).map((o) => o.Key ?? "");
}

/** Ready, with every rung's playlist listing exactly the expected segments, each stored once. */
async function expectCompleteLadder(videoId: string, seconds = CLIP_SECONDS) {
  const video = await api.getVideo(videoId);
  expect(video.status).toBe("ready");
  expect(video.failureReason).toBeNull();
  expect(video.renditions.map((r) => r.height).sort((a, b) => b - a)).toEqual([720, 480]);
  const prefix = outputPrefix(videoId);
  const keys = await listKeys(prefix);
  expect(keys).toContain(`${prefix}${MASTER_PLAYLIST}`);
  // The chunk plan's segments: 1, 1, 2 and 2-s opening segments, then 6 s (transcoder/src/media/chunks/plan.ts).
  const expected = planChunks({ durationSeconds: seconds, fps: { num: 30, den: 1 } }).segments.length;
  const master = await (await fetch(video.playback.hls ?? "")).text();
  for (const r of video.renditions) {
    expect(master).toContain(`${r.name}/${VARIANT_PLAYLIST}`);
    const hls = video.playback.hls ?? "";
    const playlistUrl = `${hls.slice(0, hls.lastIndexOf("/") + 1)}${r.name}/${VARIANT_PLAYLIST}`;
    const playlist = await (await fetch(playlistUrl)).text();
    const segments = playlist.split("\n").filter((l) => l && !l.startsWith("#"));
    expect(segments, `${r.name} segments`).toHaveLength(expected);
    expect(new Set(segments).size).toBe(expected);
    // Stored: the same segments, no leftovers from an interrupted attempt.
    const stored = keys.filter(
      (k) => k.startsWith(`${prefix}${r.name}/`) && SEGMENT_FILE.test(path.basename(k)),
    );
    expect(stored.map((k) => path.basename(k)).sort()).toEqual(segments.map((s) => path.basename(s)).sort());
  }
}

const waitReady = (id: string) => waitForTerminal(api, id, { timeoutMs: 120_000 });

describe("transcoder node lifecycle (two real transcoder processes)", () => {
  it("a node SIGKILLed mid-encode: the other node recovers the stalled job and finishes it", async () => {
    const nodesUp = await Promise.all([startNode("kill-a"), startNode("kill-b")]);
    const id = await upload();
    const [victim, survivor] = await takenBy(id, nodesUp);
    await victim.waitFor(encoding(id));
    await sleep(1500); // ffmpeg is running now
    await victim.proc.kill(); // the whole process group: node and ffmpeg, no handlers

    const video = await waitReady(id);
    expect(video.status).toBe("ready");
    await survivor.waitFor(completed(id), 10_000);
    expect(victim.has(completed(id))).toBe(false);
    // The survivor's attempt numbers its progress above the dead one's.
    expect(survivor.lines.find(started(id))).toMatchObject({ attempt: 2 });
    const job = await queue.getJob(id);
    expect(job?.attemptsStarted).toBe(2);
    expect(job?.attemptsMade).toBe(1); // the crash cost no retry; only the completion counts
    expect(job?.stalledCounter).toBe(1);
    expect(seen).toContainEqual(["stalled", id]);
    expect(seen.filter(([e, j]) => e === "failed" && j === id)).toEqual([]);
    await expectCompleteLadder(id);
  }, 150_000);

  it("a node SIGKILLed while it holds only a chunk: that chunk alone is redone, elsewhere; the output is complete", async () => {
    const nodesUp = await Promise.all([startNode("chunk-a"), startNode("chunk-b")]);
    const id = await upload(longClip);
    // The coordinator's node stays up; the other one is killed in the middle of one of the video's
    // 6-s chunks (chunk 3 on: the plan for 24 s is 1 s, 5 s, then three 6-s chunks).
    const [coordinator, victim] = await takenBy(id, nodesUp);
    const chunkStarted = (l: LogLine) =>
      l.msg === "chunk started" && l.videoId === id && typeof l.chunk === "number" && l.chunk >= 3;
    const held = await victim.waitFor(chunkStarted, 90_000);
    const chunk = held.chunk as number;
    await sleep(700); // its ffmpeg is running now
    expect(victim.has((l) => l.msg === "chunk stored" && l.videoId === id && l.chunk === chunk)).toBe(false);
    await victim.proc.kill(); // the whole process group: node and ffmpeg, no handlers

    const video = await waitForTerminal(api, id, { timeoutMs: 150_000 });
    expect(video.status).toBe("ready");
    // Every chunk was stored exactly once over both nodes: the killed one by the survivor, after the
    // kill, and nothing the dead node had finished was encoded again.
    const plan = planChunks({ durationSeconds: 2 * CLIP_SECONDS, fps: { num: 30, den: 1 } });
    const stores = nodesUp.flatMap((n) =>
      n.lines
        .filter((l) => l.msg === "chunk stored" && l.videoId === id)
        .map((l) => ({ node: n.name, chunk: l.chunk as number })),
    );
    expect(stores.map((s) => s.chunk).sort((x, y) => x - y)).toEqual(plan.chunks.map((c) => c.index));
    expect(stores.find((s) => s.chunk === chunk)?.node).toBe(coordinator.name);
    // The chunk's job was recovered as stalled (no attempt used); the coordinator's job ran once.
    const chunks = new Queue(CHUNK_QUEUE, { connection: { url: stack.transcoderVars.REDIS_URL ?? "" } });
    try {
      const chunkJob = await chunks.getJob(`${id}-c${chunk}`);
      expect(chunkJob?.stalledCounter).toBe(1);
      expect(chunkJob?.attemptsMade).toBe(1);
    } finally {
      await chunks.close();
    }
    const job = await queue.getJob(id);
    expect(job?.attemptsStarted).toBe(1);
    expect(seen.filter(([e, j]) => e === "stalled" && j === id)).toEqual([]);
    await expectCompleteLadder(id, 2 * CLIP_SECONDS);
  }, 240_000);

  it("SIGTERM with a long grace: finishes the running job, takes no new one, exits 0", async () => {
    const nodesUp = await Promise.all([
      startNode("drain-a", { SHUTDOWN_GRACE_MS: "120000" }),
      startNode("drain-b", { SHUTDOWN_GRACE_MS: "120000" }),
    ]);
    const first = await upload();
    const [draining, other] = await takenBy(first, nodesUp);
    await draining.waitFor(encoding(first));
    draining.proc.signal("SIGTERM");
    await draining.waitFor((l) => l.msg === "draining: taking no new jobs", 5000);
    const second = await upload();

    expect(await draining.proc.exited).toBe(0);
    expect((await waitReady(first)).status).toBe("ready");
    expect((await waitReady(second)).status).toBe("ready");
    const at = (match: (l: LogLine) => boolean) => draining.lines.findIndex(match);
    expect(at(completed(first))).toBeGreaterThan(-1);
    expect(at((l) => l.msg === "stopped")).toBeGreaterThan(at(completed(first)));
    expect(draining.has(started(second))).toBe(false);
    expect(draining.has((l) => l.msg === "job handed back to the queue")).toBe(false);
    await other.waitFor(completed(second), 10_000);
    expect(other.has(started(first))).toBe(false);
    const job = await queue.getJob(first);
    expect(job?.attemptsStarted).toBe(1);
    expect(job?.attemptsMade).toBe(1);
  }, 150_000);

  it("SIGTERM with a short grace: the job is handed back, the other node runs it, no attempt used", async () => {
    const nodesUp = await Promise.all([
      startNode("handback-a", { SHUTDOWN_GRACE_MS: "500" }),
      startNode("handback-b", { SHUTDOWN_GRACE_MS: "500" }),
    ]);
    const id = await upload();
    const [leaving, staying] = await takenBy(id, nodesUp);
    await leaving.waitFor(encoding(id));
    await sleep(500);
    leaving.proc.signal("SIGTERM");
    expect(await leaving.proc.exited).toBe(0);
    expect(leaving.has((l) => l.msg === "job handed back to the queue" && l.jobId === id)).toBe(true);
    expect(leaving.has(completed(id))).toBe(false);

    expect((await waitReady(id)).status).toBe("ready");
    await staying.waitFor(completed(id), 10_000);
    expect(staying.lines.find(started(id))).toMatchObject({ attempt: 2 });
    const job = await queue.getJob(id);
    expect(job?.attemptsStarted).toBe(2);
    expect(job?.attemptsMade).toBe(1); // the completion only: the hand-back used no attempt
    expect(job?.stalledCounter ?? 0).toBe(0);
    expect(seen.filter(([, j]) => j === id).map(([e]) => e)).toEqual(["completed"]);
    await expectCompleteLadder(id);
  }, 150_000);

  it("an encode many times longer than the lock keeps its lock: runs once, never stalls", async () => {
    // A 24 s 720p clip at x264's "fast" preset (about 10 s on two cores) under a 1 s lock (the
    // smallest the config takes): well over 5x the lock, renewed every half second meanwhile.
    const env = { X264_PRESET: "fast", LOCK_DURATION_MS: "1000", STALLED_INTERVAL_MS: "500" };
    const nodesUp = await Promise.all([startNode("long-a", env), startNode("long-b", env)]);
    const id = await upload(longClip);
    const [runner, other] = await takenBy(id, nodesUp);
    expect((await waitReady(id)).status).toBe("ready");
    const publish = await runner.waitFor((l) => l.msg === "stage" && l.stage === "publish" && l.jobId === id);
    expect(publish.encodeSeconds).toBeGreaterThan(5);
    await runner.waitFor(completed(id), 10_000);
    expect(other.has(started(id))).toBe(false);
    for (const n of nodesUp) {
      expect(n.has((l) => /lock renewal failed|stalled job/.test(String(l.msg)))).toBe(false);
    }
    const job = await queue.getJob(id);
    expect(job?.attemptsStarted).toBe(1);
    expect(job?.attemptsMade).toBe(1);
    expect(seen.filter(([, j]) => j === id).map(([e]) => e)).toEqual(["completed"]);

    // The node's ops endpoints (its "ready" line names them; OPS_PORT=0 gives each node its own port).
    const ops = String((await runner.waitFor((l) => l.msg === "ready")).ops);
    const health = await fetch(`${ops}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: "ok", encoder: "x264", jobsInProgress: 0 });
    const metrics = await (await fetch(`${ops}/metrics`)).text();
    expect(metrics).toContain('streamlet_transcoder_jobs_total{outcome="completed"} 1');
    expect(metrics).toContain('streamlet_transcoder_jobs_total{outcome="failed"} 0');
    // No GPU here: the real probe failed for want of a driver, and says so.
    expect(metrics).toMatch(/streamlet_transcoder_encoder_info\{encoder="x264",reason="no_driver"\} 1/);
    expect(metrics).toMatch(/streamlet_transcoder_encode_realtime_factor_count\{encoder="x264"\} 1/);
    expect(metrics).toMatch(/streamlet_transcoder_queue_depth\{state="waiting"\} \d+/);
    expect(metrics).toContain("streamlet_transcoder_up 1");
    // prom-client's standard process metrics, and no per-job (unbounded, id-leaking) series.
    expect(metrics).toMatch(/^process_start_time_seconds \d+$/m);
    expect(metrics).toMatch(/^process_cpu_seconds_total \d/m);
    expect(metrics).not.toMatch(/job_id=|video_id=/);
  }, 150_000);
});
