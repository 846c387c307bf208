/**
 * Progress fan-out benchmark: emit → receive latency of progress events through the real edge (wrangler
 * dev, the video's Durable Object) on loopback, first to 1 subscriber, then to 100 subscribers of the same
 * video, in one run. The publisher sends raw `{type:"publish"}` frames over its own socket with the job's
 * real progress token (read from the queued BullMQ job the edge created), so the transcoder's 4-per-second
 * throttle is not in the way; subscribers use the shared client helper (partysocket + ws), as the demo does.
 * Run: npm run bench:progress
 * Knobs: BENCH_EVENTS (1000 per scenario), BENCH_RATE (events/s, 20: five times the transcoder's own
 * 4/s cap per video), BENCH_SUBSCRIBERS (100).
 */
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  PROGRESS_TOKEN_HEADER,
  type ProgressEvent,
  parseServerMessage,
  publisherPath,
  SEQ_EPOCH,
  TRANSCODE_QUEUE,
  TranscodeJob,
} from "@streamlet/shared";
import { Queue } from "bullmq";
import WebSocket from "ws";
import { apiClient, watchProgress } from "../../scripts/stack/client.ts";
import { type Stack, startStack } from "../../scripts/stack/stack.ts";

const OUT = path.join(path.dirname(fileURLToPath(import.meta.url)), "out");
const EVENTS = Math.max(1, Number(process.env.BENCH_EVENTS ?? 1000));
const RATE = Math.max(1, Number(process.env.BENCH_RATE ?? 20));
const SUBSCRIBERS = Math.max(1, Number(process.env.BENCH_SUBSCRIBERS ?? 100));
const say = (msg: string) => process.stderr.write(`${msg}\n`);
/** Sub-millisecond wall clock shared by publisher and subscribers (one process). */
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Summary {
  samples: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

function summarize(values: number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) =>
    sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
  const r = (n: number) => Math.round(n * 100) / 100;
  return {
    samples: sorted.length,
    p50: r(at(0.5)),
    p95: r(at(0.95)),
    p99: r(at(0.99)),
    max: r(sorted.at(-1) ?? 0),
  };
}

/** The transcoder's side, minus the throttle: a socket with its headers and raw publish frames. */
async function openPublisher(edgeUrl: string, videoId: string, secret: string, token: string) {
  const url = `${edgeUrl.replace(/^http/, "ws")}${publisherPath(videoId)}`;
  const ws = new WebSocket(url, {
    headers: { Authorization: `Bearer ${secret}`, [PROGRESS_TOKEN_HEADER]: token },
  });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  const sentAt = new Map<number, number>();
  const ackLatency: number[] = [];
  let lastAck = -1;
  let closed = false;
  ws.on("close", (code, reason) => {
    if (!closed)
      say(`publisher socket closed by the edge (${code} ${reason.toString()}): a wrangler reload?`);
  });
  ws.on("message", (data) => {
    const msg = parseServerMessage(data.toString());
    if (msg?.type === "ack") {
      const sent = sentAt.get(msg.seq);
      if (sent !== undefined) ackLatency.push(now() - sent);
      lastAck = Math.max(lastAck, msg.seq);
    } else if (msg?.type === "error") {
      say(`publisher got an error: ${msg.code}: ${msg.message}`);
    }
  });
  return {
    ackLatency,
    lastAck: () => lastAck,
    send(event: ProgressEvent) {
      sentAt.set(event.seq, event.at);
      ws.send(JSON.stringify({ type: "publish", event }));
    },
    close: () => {
      closed = true;
      ws.close();
    },
  };
}

/** A transcoding event, as the transcoder would send mid-encode. */
function transcoding(seq: number, i: number, total: number): ProgressEvent {
  const percent = Math.round((i / total) * 1000) / 10;
  return {
    type: "transcoding",
    seq,
    at: now(),
    percent,
    rungs: [
      { name: "1080p", height: 1080, percent },
      { name: "720p", height: 720, percent },
      { name: "480p", height: 480, percent },
    ],
    fps: 62.5,
    speed: 2.08,
    etaSeconds: 12.3,
  };
}

interface ScenarioResult {
  subscribers: number;
  events: number;
  expectedDeliveries: number;
  delivered: number;
  latencyMs: Summary;
  /** The slowest subscriber's own p95. */
  worstSubscriberP95Ms: number;
  publisherAckMs: Summary;
  seconds: number;
}

async function scenario(
  stack: Stack,
  video: { id: string; token: string; accessToken: string },
  subscribers: number,
  firstSeq: number,
): Promise<ScenarioResult> {
  say(`\n${subscribers} subscriber(s): connecting…`);
  const perSubscriber: number[][] = Array.from({ length: subscribers }, () => []);
  let joined = 0;
  const lastSeq = firstSeq + EVENTS - 1;
  const subs = perSubscriber.map((latencies) =>
    watchProgress(stack.edgeUrl, video.id, video.accessToken, {
      onSnapshot: () => {
        joined += 1;
      },
      onEvent: (e) => {
        if (e.seq >= firstSeq && e.seq <= lastSeq) latencies.push(now() - e.at);
      },
      onError: (e) => say(`subscriber error: ${e.kind === "server" ? e.code : e.message}`),
    }),
  );
  const joinDeadline = Date.now() + 60_000;
  while (joined < subscribers && Date.now() < joinDeadline) await sleep(20);
  if (joined < subscribers) throw new Error(`only ${joined} of ${subscribers} subscribers joined`);

  const publisher = await openPublisher(
    stack.edgeUrl,
    video.id,
    stack.transcoderVars.TRANSCODER_SECRET ?? "",
    video.token,
  );
  say(`publishing ${EVENTS} events at ${RATE}/s…`);
  const interval = 1000 / RATE;
  const started = performance.now();
  for (let i = 0; i < EVENTS; i++) {
    const due = started + i * interval;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    publisher.send(transcoding(firstSeq + i, i + 1, EVENTS));
  }
  const expected = EVENTS * subscribers;
  const count = () => perSubscriber.reduce((n, l) => n + l.length, 0);
  const deadline = Date.now() + 60_000;
  while ((count() < expected || publisher.lastAck() < lastSeq) && Date.now() < deadline) await sleep(20);
  const seconds = (performance.now() - started) / 1000;
  publisher.close();
  for (const s of subs) s.close();
  const all = perSubscriber.flat();
  return {
    subscribers,
    events: EVENTS,
    expectedDeliveries: expected,
    delivered: all.length,
    latencyMs: summarize(all),
    worstSubscriberP95Ms: Math.max(...perSubscriber.map((l) => summarize(l).p95)),
    publisherAckMs: summarize(publisher.ackLatency),
    seconds: Math.round(seconds * 10) / 10,
  };
}

const dataDir = mkdtempSync(path.join(os.tmpdir(), "streamlet-bench-progress-"));
chmodSync(dataDir, 0o755); // the postgres system user must reach its data folder
const logs: string[] = [];
let stack: Stack | undefined;
let exitCode = 1;
try {
  say("starting the stack (redis, postgres, s3rver, wrangler dev; no transcoder)…");
  stack = await startStack({
    dataDir,
    ports: "random",
    transcoders: 0,
    log: (name) => (line) => {
      logs.push(`[${name}] ${line}`);
      if (logs.length > 200) logs.shift();
      // wrangler dev rebuilds when a source file changes, dropping every socket: such a run is void.
      if (name === "edge" && /reload/i.test(line)) say(`edge: ${line.trim()}`);
    },
  });

  // A real video, uploaded and queued: the edge mints the job's progress token, which we take from the job.
  const api = apiClient(stack.edgeUrl);
  await api.signup(
    `bench-${randomBytes(4).toString("hex")}@example.com`,
    randomBytes(12).toString("base64url"),
  );
  const source = path.join(dataDir, "source.bin");
  writeFileSync(source, randomBytes(1024));
  const created = await api.createVideo("bench-progress", source);
  await api.upload(created, source);
  await api.markUploaded(created.video.id);
  const queue = new Queue(TRANSCODE_QUEUE, { connection: { url: stack.edgeVars.REDIS_URL } });
  const job = TranscodeJob.parse((await queue.getJob(created.video.id))?.data);
  await queue.close();
  const video = { id: created.video.id, token: job.progressToken, accessToken: api.accessToken() };

  const base = SEQ_EPOCH + 1;
  const results = [
    await scenario(stack, video, 1, base),
    await scenario(stack, video, SUBSCRIBERS, base + EVENTS),
  ];

  const cpus = os.cpus();
  const machine = {
    cpu: cpus[0]?.model ?? "unknown",
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.type()} ${os.release()}`,
    node: process.version,
  };
  const row = (cells: (string | number)[]) =>
    cells.map((c, i) => String(c).padStart(i === 0 ? 12 : 10)).join(" ");
  console.log(
    `\nemit → receive latency (ms), ${EVENTS} events per scenario at ${RATE}/s, loopback, wrangler dev`,
  );
  console.log(row(["subscribers", "delivered", "p50", "p95", "p99", "max", "worst p95", "ack p95"]));
  for (const r of results) {
    console.log(
      row([
        r.subscribers,
        `${r.delivered}/${r.expectedDeliveries}`,
        r.latencyMs.p50,
        r.latencyMs.p95,
        r.latencyMs.p99,
        r.latencyMs.max,
        r.worstSubscriberP95Ms,
        r.publisherAckMs.p95,
      ]),
    );
  }
  console.log(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.platform}, node ${machine.node}`);
  mkdirSync(OUT, { recursive: true });
  const file = path.join(OUT, "results.json");
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        machine,
        method:
          "raw publish frames (no transcoder throttle) paced at the given rate over one publisher socket; " +
          "latency = subscriber receive time - event.at (same process clock); subscribers via shared/src/progress-client.ts + ws",
        eventsPerScenario: EVENTS,
        ratePerSecond: RATE,
        scenarios: results,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`results: ${file}`);
  const allDelivered = results.every((r) => r.delivered === r.expectedDeliveries);
  if (!allDelivered) say("some events were not delivered to every subscriber");
  exitCode = allDelivered ? 0 : 1;
} catch (err) {
  say(`bench failed: ${(err as Error).message}`);
  say(logs.slice(-40).join("\n"));
} finally {
  await stack?.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
process.exit(exitCode);
