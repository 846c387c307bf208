/**
 * Delivery benchmark: origin offload and cached-segment latency through the local edge (wrangler dev).
 * One stack (s3rver behind a counting proxy, Postgres, Redis, one transcoder for publishing, the edge),
 * one real video (synthetic 720p clip → upload → ready; publish.ts), then two more edges on the same services:
 * ORIGIN_COALESCING=off as the baseline, and ORIGIN_COALESCING=shield, where no request shares a read
 * within its isolate, so every viewer reaches the origin shield as if each were on its own machine of
 * the data centre (wrangler dev runs one isolate: this is how the shield alone is measured). Each edge
 * has its own cache; each runs, and is stopped, before the next one is measured:
 *  1. cold: VIEWERS concurrent viewers request the same uncached object (the top rung's variant playlist
 *     and its first segments), on each edge → storage GETs of that object (target: 1 with coalescing,
 *     the shield alone included) and the viewers' latency;
 *  2. warm: ROUNDS rounds of VIEWERS concurrent viewers fetching the same cached segment on the coalescing
 *     edge, interleaved with rounds of /healthz (no database, no cache) → p50/p95, as ratios to /healthz
 *     and to the uncached read of step 1 on the baseline edge.
 * Run: npm run bench:delivery   Knobs: BENCH_VIEWERS (100), BENCH_ROUNDS (10), BENCH_COLD_SEGMENTS (2),
 * BENCH_STORAGE_LATENCY_MS (200), BENCH_PUBLISH=seed (skip the transcoder; publish.ts).
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { MASTER_PLAYLIST, outputPrefix, VARIANT_PLAYLIST } from "@streamlet/shared";
import { freePort } from "../../scripts/stack/proc.ts";
import { S3_ACCESS_KEY, S3_SECRET_KEY, startEdge, startS3 } from "../../scripts/stack/services.ts";
import { type Stack, startStack } from "../../scripts/stack/stack.ts";
import { type StorageProxy, startStorageProxy } from "../../scripts/stack/storage-proxy.ts";
import { Supervisor } from "../../scripts/stack/supervisor.ts";
import { publishVideo } from "./publish.ts";
import { allSame, type Fetched, fetchTogether, type Summary, summarize, viewerAgent } from "./viewers.ts";

const OUT = path.join(path.dirname(fileURLToPath(import.meta.url)), "out");
const VIEWERS = Math.max(1, Number(process.env.BENCH_VIEWERS ?? 100));
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 10));
const COLD_SEGMENTS = Math.max(1, Number(process.env.BENCH_COLD_SEGMENTS ?? 2));
/**
 * Storage time to first byte added by the proxy: a remote bucket's (B2 or S3 in another region: 100-300 ms;
 * s3rver's own is ~1 ms). Below ~100 ms the uncoalesced baseline is not a baseline: wrangler dev's cache
 * (miniflare's, one single-threaded Durable Object) queues the other viewers' cache.match behind the first
 * viewer's cache.put, so they hit; measured at 50 ms, 1 or 100 storage GETs per object from run to run.
 */
const STORAGE_LATENCY_MS = Math.max(0, Number(process.env.BENCH_STORAGE_LATENCY_MS ?? 200));
const BUCKET = "streamlet";
const say = (msg: string) => process.stderr.write(`${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const r2 = (n: number) => Math.round(n * 100) / 100;
const started = performance.now();
const elapsed = () => Math.round((performance.now() - started) / 1000);

interface Edge {
  label: string;
  url: string;
  agent: http.Agent;
}

interface ColdResult {
  edge: string;
  object: string;
  bytes: number;
  storageGets: number;
  /** First to last storage GET of the object: how long the miss window stayed open. */
  storageGetSpreadMs: number;
  allViewersGotSameBytes: boolean;
  statuses: Record<string, number>;
  latencyMs: Summary;
}

/** The media segments a variant playlist lists, read straight from storage (not through an edge's cache). */
async function segmentsOf(storage: string, key: string): Promise<string[]> {
  const res = await fetch(`${storage}/${BUCKET}/${key}`);
  if (!res.ok) throw new Error(`reading ${key} from storage: ${res.status}`);
  return (await res.text()).split("\n").filter((line) => line.trim() !== "" && !line.startsWith("#"));
}

/** VIEWERS concurrent requests of one uncached object; the storage GETs it caused. */
async function cold(edge: Edge, proxy: StorageProxy, videoId: string, asset: string): Promise<ColdResult> {
  proxy.reset();
  const results = await fetchTogether(`${edge.url}/v1/play/${videoId}/${asset}`, VIEWERS, edge.agent);
  await sleep(300); // the cache write finishes after the responses (waitUntil)
  const statuses: Record<string, number> = {};
  for (const r of results) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
  return {
    edge: edge.label,
    object: asset,
    bytes: results[0]?.bytes ?? 0,
    storageGets: proxy.gets(`${outputPrefix(videoId)}${asset}`),
    storageGetSpreadMs: proxy.spreadMs(`${outputPrefix(videoId)}${asset}`),
    allViewersGotSameBytes: allSame(results),
    statuses,
    latencyMs: summarize(results.map((r) => r.ms)),
  };
}

/** ROUNDS rounds of VIEWERS concurrent requests of a cached segment, each after a round of /healthz. */
async function warm(edge: Edge, proxy: StorageProxy, url: string) {
  const segment: Fetched[] = [];
  const healthz: Fetched[] = [];
  proxy.reset();
  for (let round = 0; round < ROUNDS; round++) {
    healthz.push(...(await fetchTogether(`${edge.url}/healthz`, VIEWERS, edge.agent, { hash: false })));
    segment.push(...(await fetchTogether(url, VIEWERS, edge.agent, { hash: false })));
  }
  const sizes = new Set(segment.map((r) => r.bytes));
  return {
    edge: edge.label,
    storageGets: [...proxy.allGets().values()].reduce((a, b) => a + b, 0),
    allOk: segment.every((r) => r.status === 200) && sizes.size === 1,
    segmentMs: summarize(segment.map((r) => r.ms)),
    healthzMs: summarize(healthz.map((r) => r.ms)),
  };
}

function markdown(results: {
  cold: ColdResult[];
  warm: Awaited<ReturnType<typeof warm>>[];
  ratios: Record<string, number>;
  date: string;
}) {
  const lines = [
    `# Delivery benchmark (${results.date})`,
    "",
    `${VIEWERS} concurrent viewers per request, loopback, wrangler dev, storage first-byte latency ` +
      `${STORAGE_LATENCY_MS} ms (added by the counting proxy); see run.ts for the method.`,
    "",
    "## Cold: the same uncached object requested by every viewer at once",
    "",
    "| edge | object | bytes | storage GETs | GET spread ms | same bytes for all | p50 ms | p95 ms |",
    "|---|---|---:|---:|---:|---|---:|---:|",
    ...results.cold.map(
      (c) =>
        `| ${c.edge} | ${c.object} | ${c.bytes} | ${c.storageGets} | ${c.storageGetSpreadMs} | ${c.allViewersGotSameBytes ? "yes" : "NO"} | ${c.latencyMs.p50} | ${c.latencyMs.p95} |`,
    ),
    "",
    `## Warm: a cached segment, ${ROUNDS} rounds (interleaved with /healthz rounds)`,
    "",
    "| edge | storage GETs | segment p50 ms | segment p95 ms | /healthz p50 ms | /healthz p95 ms |",
    "|---|---:|---:|---:|---:|---:|",
    ...results.warm.map(
      (w) =>
        `| ${w.edge} | ${w.storageGets} | ${w.segmentMs.p50} | ${w.segmentMs.p95} | ${w.healthzMs.p50} | ${w.healthzMs.p95} |`,
    ),
    "",
    "## Ratios",
    "",
    "| ratio | value |",
    "|---|---:|",
    ...Object.entries(results.ratios).map(([k, v]) => `| ${k} | ${v} |`),
    "",
  ];
  return lines.join("\n");
}

const dataDir = mkdtempSync(path.join(os.tmpdir(), "streamlet-bench-delivery-"));
chmodSync(dataDir, 0o755); // the postgres system user must reach its data folder
const logs: string[] = [];
const log = (name: string) => (line: string) => {
  logs.push(`[${name}] ${line}`);
  if (logs.length > 300) logs.shift();
};
const supervisor = new Supervisor();
let stack: Stack | undefined;
let proxy: StorageProxy | undefined;
let exitCode = 1;
try {
  say("starting s3rver behind a counting proxy, then the stack (redis, postgres, wrangler dev)…");
  const s3 = await startS3({
    dir: path.join(dataDir, "s3"),
    port: await freePort(),
    bucket: BUCKET,
    log,
    supervisor,
  });
  proxy = await startStorageProxy(s3.endpoint, BUCKET, await freePort(), STORAGE_LATENCY_MS);
  stack = await startStack({
    dataDir,
    ports: "random",
    transcoders: 0,
    supervisor,
    log,
    env: {
      ...process.env,
      S3_ENDPOINT: proxy.url,
      S3_PUBLIC_ENDPOINT: proxy.url,
      S3_BUCKET: BUCKET,
      S3_ACCESS_KEY_ID: S3_ACCESS_KEY,
      S3_SECRET_ACCESS_KEY: S3_SECRET_KEY,
      // The playback state (visibility, generation) stays cached for the whole run: we measure delivery.
      PLAYBACK_STATE_TTL_SECONDS: "300",
      RATE_LIMITS: "off",
    },
  });
  say(`publishing one video (12 s 720p clip → ready) and starting the other edges… (${elapsed()} s)`);
  // The baseline edge (ORIGIN_COALESCING=off) and the shield-only edge: the same Worker and services,
  // each with a cache of its own.
  const otherEdge = async (name: string, mode: string) =>
    startEdge({
      dataDir: path.join(dataDir, `edge-${name}`),
      port: await freePort(),
      vars: { ...stack?.edgeVars, ORIGIN_COALESCING: mode },
      log,
      supervisor,
    });
  const [video, baseline, shieldOnly] = await Promise.all([
    publishVideo(stack, dataDir, say),
    otherEdge("baseline", "off"),
    otherEdge("shield", "shield"),
  ]);
  // Baseline first, then the shield alone, each stopped after: their background cache writes (one per
  // viewer) must not compete with the next edge's measurements on two cores.
  const edges: Edge[] = [
    { label: "ORIGIN_COALESCING=off", url: baseline.url, agent: viewerAgent(VIEWERS) },
    { label: "ORIGIN_COALESCING=shield", url: shieldOnly.url, agent: viewerAgent(VIEWERS) },
    { label: "coalescing (default)", url: stack.edgeUrl, agent: viewerAgent(VIEWERS) },
  ];
  const [off, shield, on] = edges as [Edge, Edge, Edge];
  const stoppable = new Map([
    [off, baseline],
    [shield, shieldOnly],
  ]);

  const playlist = `${video.rung}/${VARIANT_PLAYLIST}`;
  const segments = (await segmentsOf(s3.endpoint, `${outputPrefix(video.id)}${playlist}`))
    .slice(0, COLD_SEGMENTS)
    .map((s) => `${video.rung}/${s}`);
  const objects = [playlist, ...segments];

  const coldResults: ColdResult[] = [];
  for (const edge of edges) {
    // Open every viewer's connection and cache the playback state before anything is timed.
    await fetchTogether(`${edge.url}/healthz`, VIEWERS, edge.agent, { hash: false });
    await fetchTogether(`${edge.url}/v1/play/${video.id}/${MASTER_PLAYLIST}`, 1, edge.agent);
    for (const object of objects) {
      const result = await cold(edge, proxy, video.id, object);
      say(
        `cold ${edge.label} ${object} (${result.bytes} B): ${result.storageGets} storage GET(s) over ` +
          `${result.storageGetSpreadMs} ms, p50 ${result.latencyMs.p50} ms, ` +
          `p95 ${result.latencyMs.p95} ms, same bytes: ${result.allViewersGotSameBytes} (${elapsed()} s)`,
      );
      coldResults.push(result);
    }
    const running = stoppable.get(edge);
    if (running) {
      edge.agent.destroy();
      await running.proc.stop();
      await sleep(1000);
    }
  }

  // The cached path is the same code on both edges: measured on the coalescing (default) one.
  const warmSegment = segments[0] ?? playlist;
  await sleep(1000); // its cache write of the segment lands (waitUntil)
  const warmResults = [await warm(on, proxy, `${on.url}/v1/play/${video.id}/${warmSegment}`)];
  for (const result of warmResults) {
    say(
      `warm ${result.edge} ${warmSegment}: p50 ${result.segmentMs.p50} ms, p95 ${result.segmentMs.p95} ms ` +
        `(healthz p50 ${result.healthzMs.p50}, p95 ${result.healthzMs.p95}), storage GETs ${result.storageGets} ` +
        `(${elapsed()} s)`,
    );
  }

  // Uncached baseline: the cold segment requests on the baseline edge (every viewer reads storage).
  const coldOf = (label: string | undefined, seg: boolean) =>
    coldResults.filter((c) => c.edge === label && (c.object !== playlist) === seg);
  const onSegs = coldOf(on.label, true);
  const offSegs = coldOf(off.label, true);
  const shieldSegs = coldOf(shield.label, true);
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);
  const w = warmResults[0];
  const uncachedP50 = mean(offSegs.map((c) => c.latencyMs.p50));
  const uncachedP95 = mean(offSegs.map((c) => c.latencyMs.p95));
  const ratios: Record<string, number> = {
    "storage GETs per cold segment, coalescing / off (mean)": r2(
      mean(onSegs.map((c) => c.storageGets)) / mean(offSegs.map((c) => c.storageGets)),
    ),
    "storage GETs per cold playlist, coalescing / off": r2(
      (coldOf(on.label, false)[0]?.storageGets ?? Number.NaN) /
        (coldOf(off.label, false)[0]?.storageGets ?? Number.NaN),
    ),
    "storage GETs per cold segment, shield alone / off (mean)": r2(
      mean(shieldSegs.map((c) => c.storageGets)) / mean(offSegs.map((c) => c.storageGets)),
    ),
    "cold segment p50, shield alone / off (mean of objects)": r2(
      mean(shieldSegs.map((c) => c.latencyMs.p50)) / uncachedP50,
    ),
    "cold segment p50, coalescing / off (mean of objects)": r2(
      mean(onSegs.map((c) => c.latencyMs.p50)) / uncachedP50,
    ),
    "cold segment p95, coalescing / off (mean of objects)": r2(
      mean(onSegs.map((c) => c.latencyMs.p95)) / uncachedP95,
    ),
    "cached segment p50 / uncached (off edge) p50": r2((w?.segmentMs.p50 ?? Number.NaN) / uncachedP50),
    "cached segment p95 / uncached (off edge) p95": r2((w?.segmentMs.p95 ?? Number.NaN) / uncachedP95),
    "cached segment p50 / healthz p50": r2(
      (w?.segmentMs.p50 ?? Number.NaN) / (w?.healthzMs.p50 ?? Number.NaN),
    ),
    "cached segment p95 / healthz p95": r2(
      (w?.segmentMs.p95 ?? Number.NaN) / (w?.healthzMs.p95 ?? Number.NaN),
    ),
  };

  const cpus = os.cpus();
  const date = new Date().toISOString();
  const results = {
    date,
    machine: {
      cpu: cpus[0]?.model ?? "unknown",
      cores: cpus.length,
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
    },
    method:
      "wrangler dev edges on loopback, s3rver behind a counting HTTP proxy (object GETs by key); viewers are " +
      "node:http keep-alive clients (one connection each), latency = request start to last body byte; " +
      "cold = every viewer requests the same uncached object at once; warm = rounds of every viewer " +
      "requesting the same cached segment, each round after a /healthz round on the same connections",
    viewers: VIEWERS,
    rounds: ROUNDS,
    storageLatencyMs: STORAGE_LATENCY_MS,
    video: { ...video, objects },
    cold: coldResults,
    warm: warmResults,
    ratios,
    seconds: Math.round((performance.now() - started) / 100) / 10,
  };
  mkdirSync(OUT, { recursive: true });
  writeFileSync(path.join(OUT, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
  const md = markdown({ cold: coldResults, warm: warmResults, ratios, date });
  writeFileSync(path.join(OUT, "results.md"), md);
  console.log(`\n${md}`);
  console.log(`results: ${path.join(OUT, "results.json")} (${results.seconds} s)`);
  const allDelivered =
    coldResults.every((c) => c.allViewersGotSameBytes) && warmResults.every((x) => x.allOk);
  if (!allDelivered) say("some viewers did not get the same complete object");
  exitCode = allDelivered ? 0 : 1;
} catch (err) {
  say(`bench failed: ${(err as Error).stack ?? err}`);
  say(logs.slice(-60).join("\n"));
} finally {
  await (stack?.stop() ?? supervisor.stopAll());
  await supervisor.stopAll();
  await proxy?.close();
  rmSync(dataDir, { recursive: true, force: true });
}
process.exit(exitCode);
