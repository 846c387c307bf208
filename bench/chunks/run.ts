/**
 * Chunked transcoding benchmark (issue 11), through the public API and the edge, in one run: for
 * hard-to-compress 1080p30 sources (bench/ladder/source.ts: test pattern, Game of Life, hue drift, grain),
 *   first playable: `/uploaded` answered → the master playlist, and every rendition's playlist, init
 *                   section and first segment, all fetched through the edge with 200s;
 *   ready:          `/uploaded` answered → GET /v1/videos/:id says `ready`;
 * with (1) one transcoder node on every core, (2) one node pinned to core 0, (3) two nodes pinned to
 * cores 0 and 1 (`taskset -a -p` on the node once it is ready; its ffmpeg children inherit the mask).
 * Everything else (edge, Redis, Postgres, s3rver, this process) stays unpinned.
 * The clock reads the edge when the video's progress socket says `playable` or `ready` (a slow poll of the
 * API guards against a lost event), so the benchmark adds next to no load of its own to the nodes' cores.
 * Then, unless --no-browser, hls.js in Chromium is pointed at the shortest clip as soon as it is playable.
 * Run: npm run bench:chunks [-- --long] [-- --no-browser]
 * Knobs: BENCH_LENGTHS (seconds, comma-separated; "20,120", plus 600 with --long), BENCH_CONFIGS
 * (e.g. "pinned1,pinned2"), BENCH_PLAYABLE_ONLY (lengths measured to first playable only: the video is
 * then deleted, which stops its chunks, instead of waiting for ready). Sources are generated once into
 * .data/bench and reused (a 600-s one may be five 120-s ones joined with ffmpeg's concat, -c copy).
 */
import { execFile } from "node:child_process";
import {
  appendFileSync,
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { isTerminal, type Video } from "@streamlet/shared";
import { chromium } from "playwright-core";
import { signedUpClient, watchProgress } from "../../scripts/stack/client.ts";
import { ROOT } from "../../scripts/stack/services.ts";
import { type Stack, startStack } from "../../scripts/stack/stack.ts";
import { generateSource } from "../ladder/source.ts";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const OUT = path.join(HERE, "out");
const SOURCES = path.join(ROOT, ".data", "bench");
const LONG = process.argv.includes("--long");
const BROWSER = !process.argv.includes("--no-browser");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const LENGTHS = (process.env.BENCH_LENGTHS ?? (LONG ? "20,120,600" : "20,120"))
  .split(",")
  .map(Number)
  .filter((n) => n > 0);
const PLAYABLE_ONLY = new Set(
  (process.env.BENCH_PLAYABLE_ONLY ?? "")
    .split(",")
    .map(Number)
    .filter((n) => n > 0),
);
const TARGET_PLAYABLE_S = 10;
const TARGET_SPEEDUP = 0.55;

const say = (msg: string) => process.stderr.write(`${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const r1 = (n: number) => Math.round(n * 10) / 10;
const exec = promisify(execFile);

interface Config {
  key: string;
  label: string;
  /** One entry per node: the core it is pinned to, or null for none. */
  nodes: (number | null)[];
}

const ALL_CONFIGS: Config[] = [
  { key: "one", label: "1 node, both cores", nodes: [null] },
  { key: "pinned1", label: "1 node, core 0", nodes: [0] },
  { key: "pinned2", label: "2 nodes, cores 0+1", nodes: [0, 1] },
];
/** In the order given, so the pair that decides the speed-up target can run first. */
const CONFIGS = process.env.BENCH_CONFIGS
  ? process.env.BENCH_CONFIGS.split(",").flatMap((k) => ALL_CONFIGS.filter((c) => c.key === k))
  : ALL_CONFIGS;

/** A transcoder log line about one video, with its node and time relative to `/uploaded`. */
interface TimelineEntry {
  t: number;
  node: string;
  what: string;
  fields?: Record<string, unknown>;
}

interface RunResult {
  config: string;
  seconds: number;
  sourceBytes: number;
  uploadSeconds: number;
  firstPlayableSeconds: number | null;
  /** The edge's own playableAt, relative to `/uploaded` (server clock, same machine). */
  playableAtSeconds: number | null;
  readySeconds: number | null;
  status: string;
  assetsChecked: number;
  timeline: TimelineEntry[];
}

/** Node log lines by video id, as they arrive. */
const logLines: { at: number; node: string; json: Record<string, unknown> }[] = [];

async function sourceFor(seconds: number): Promise<string> {
  mkdirSync(SOURCES, { recursive: true });
  const file = path.join(SOURCES, `chunks-1080p30-${seconds}s.mp4`);
  if (existsSync(file)) return file;
  say(`generating ${file} (${seconds} s of hard-to-compress 1080p30)…`);
  const part = `${file}.part.mp4`;
  const took = await generateSource(part, seconds);
  renameSync(part, file);
  say(`  generated in ${r1(took)} s`);
  return file;
}

/** Every URI of a playlist (media lines, EXT-X-MAP and EXT-X-MEDIA URI attributes), resolved against it. */
function playlistUris(text: string, base: string): { variants: string[]; init: string[]; media: string[] } {
  const variants: string[] = [];
  const init: string[] = [];
  const media: string[] = [];
  for (const line of text.split("\n").map((l) => l.trim())) {
    if (!line) continue;
    const attr = /URI="([^"]+)"/.exec(line)?.[1];
    if (line.startsWith("#EXT-X-MAP") && attr) init.push(new URL(attr, base).href);
    else if (line.startsWith("#EXT-X-MEDIA") && attr) variants.push(new URL(attr, base).href);
    else if (!line.startsWith("#")) {
      const url = new URL(line, base).href;
      (/\.m3u8(\?|$)/.test(line) ? variants : media).push(url);
    }
  }
  return { variants, init, media };
}

async function fetchOk(url: string): Promise<string | null> {
  const res = await fetch(url).catch(() => null);
  if (!res?.ok) {
    await res?.body?.cancel();
    return null;
  }
  if (url.includes(".m3u8")) return res.text();
  await res.arrayBuffer();
  return "";
}

/**
 * The master playlist, each rendition's playlist, its init section and its first segment, through the
 * edge; the number of assets fetched when every one answered 200, else null.
 */
async function playableThroughEdge(master: string): Promise<number | null> {
  const text = await fetchOk(master);
  if (text === null) return null;
  const { variants } = playlistUris(text, master);
  if (variants.length === 0) return null;
  const counts = await Promise.all(
    variants.map(async (v) => {
      const playlist = await fetchOk(v);
      if (playlist === null) return null;
      const { init, media } = playlistUris(playlist, v);
      const first = media[0];
      if (!first) return null;
      const got = await Promise.all([...init, first].map(fetchOk));
      return got.every((g) => g !== null) ? 2 + init.length : null;
    }),
  );
  return counts.every((c) => c !== null) ? 1 + counts.reduce((a, b) => a + (b ?? 0), 0) : null;
}

async function runOne(
  stack: Stack,
  config: Config,
  seconds: number,
  source: string,
  onPlayable?: (hls: string) => void,
): Promise<RunResult> {
  const api = await signedUpClient(stack.edgeUrl, "bench-chunks");
  const created = await api.createVideo(`bench-chunks ${config.key} ${seconds}s`, source);
  const uploadStart = performance.now();
  await api.upload(created, source);
  const uploadSeconds = (performance.now() - uploadStart) / 1000;
  const id = created.video.id;
  // The progress socket says when to look (as a watching page would); the edge is then checked
  // directly. Polling GET /v1/videos/:id every 100-250 ms instead kept workerd, Postgres and this
  // process busy on the same two cores as the nodes being measured: over 160 s of two pinned nodes,
  // workerd used 17.8 CPU-s polled and 2.5 here, and ffmpeg's share of the machine rose from 78 % to 90 %.
  const signals = { playable: false, terminal: false };
  let wake = () => {};
  const subscription = watchProgress(stack.edgeUrl, id, api.accessToken(), {
    onEvent: (e) => {
      if (e.type === "playable") signals.playable = true;
      if (isTerminal(e)) signals.terminal = true;
      wake();
    },
    onError: (e) => say(`  progress socket: ${e.message}`),
  });
  /** Sleeps up to `ms`, or until the next progress event. */
  const nap = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  await api.markUploaded(id);
  const t0 = performance.now();
  const t0Wall = Date.now();
  const since = () => (performance.now() - t0) / 1000;

  let firstPlayable: number | null = null;
  let assetsChecked = 0;
  let ready: number | null = null;
  let video: Video | undefined;
  let lastStatus = "";
  const deadline = Date.now() + Math.max(600_000, seconds * 30_000);
  try {
    while (Date.now() < deadline) {
      video = await api.getVideo(id);
      if (video.status !== lastStatus) {
        lastStatus = video.status;
        say(`  ${r1(since())} s: ${video.status}`);
      }
      if (video.status === "failed") break;
      if (firstPlayable === null && video.playback.hls) {
        const n = await playableThroughEdge(video.playback.hls);
        if (n !== null) {
          firstPlayable = since();
          assetsChecked = n;
          say(`  ${r1(firstPlayable)} s: playable through the edge (${n} assets)`);
          onPlayable?.(video.playback.hls);
        }
      }
      if (video.status === "ready") {
        ready ??= since();
        if (firstPlayable !== null) break;
      }
      if (firstPlayable !== null && PLAYABLE_ONLY.has(seconds)) break;
      // Once the socket said playable (or done), the edge is checked every 100 ms until it answers;
      // otherwise a slow poll only guards against a lost event.
      if (firstPlayable === null) await (signals.playable || signals.terminal ? sleep(100) : nap(2000));
      else if (!signals.terminal) await nap(5000);
    }
  } finally {
    subscription.close();
  }
  if (PLAYABLE_ONLY.has(seconds) && ready === null) {
    // Deleting stops its chunks (within a second), so the next run has the nodes to itself.
    await api.api.DELETE("/v1/videos/{id}", { params: { path: { id } } });
    await sleep(3000);
  }
  const playableAt = video?.playableAt ? (Date.parse(video.playableAt) - t0Wall) / 1000 : null;
  const timeline = logLines
    .filter((l) => l.json.videoId === id)
    .map((l) => {
      const { msg, stage, time, level, videoId, jobId, ...fields } = l.json;
      const what = msg === "stage" ? `stage ${String(stage)}` : String(msg);
      const keep = Object.fromEntries(
        Object.entries(fields).filter(([k]) =>
          ["chunk", "encodeMs", "chunks", "segments", "bytes", "attempt", "durationSeconds"].includes(k),
        ),
      );
      return { t: r1((l.at - t0Wall) / 1000), node: l.node, what, fields: keep };
    });
  return {
    config: config.key,
    seconds,
    sourceBytes: statSync(source).size,
    uploadSeconds: r1(uploadSeconds),
    firstPlayableSeconds: firstPlayable === null ? null : r1(firstPlayable),
    playableAtSeconds: playableAt === null ? null : r1(playableAt),
    readySeconds: ready === null ? null : r1(ready),
    status: video?.status ?? "unknown",
    assetsChecked,
    timeline,
  };
}

/** Starts a config's nodes, pinning each with taskset once it is ready (before it takes any job). */
async function startNodes(stack: Stack, config: Config) {
  const nodes: { stop(): Promise<void> }[] = [];
  for (const [i, core] of config.nodes.entries()) {
    const name = `${config.key}-node${i + 1}`;
    const node = await stack.addTranscoder(name, {
      onLine: (line) => {
        try {
          const json = JSON.parse(line) as Record<string, unknown>;
          const at = typeof json.time === "string" ? Date.parse(json.time) : Date.now();
          if (typeof json.videoId === "string") logLines.push({ at, node: name, json });
        } catch {
          // not a JSON log line
        }
      },
    });
    const pid = node.proc.child.pid;
    if (core !== null && pid !== undefined) {
      await exec("taskset", ["-a", "-p", "-c", String(core), String(pid)]);
      const { stdout } = await exec("taskset", ["-p", String(pid)]);
      say(`  ${name} (pid ${pid}) pinned: ${stdout.trim()}`);
    }
    nodes.push(node);
  }
  return { stop: () => Promise.all(nodes.map((n) => n.stop())) };
}

const PAGE = `<!doctype html><meta charset="utf-8"><title>player</title>
<video id="v" muted playsinline></video>
<script src="/hls.min.js"></script>
<script>
  window.player = { errors: [], playingAt: null };
  window.play = (src) => {
    const video = document.getElementById("v");
    video.addEventListener("playing", () => { window.player.playingAt ??= performance.timeOrigin + performance.now(); });
    const hls = new Hls();
    hls.on(Hls.Events.MANIFEST_PARSED, () => video.play());
    hls.on(Hls.Events.ERROR, (_, d) => window.player.errors.push(d.type + ":" + d.details + (d.fatal ? ":fatal" : "")));
    hls.loadSource(src);
    hls.attachMedia(video);
  };
</script>`;

/** hls.js in Chromium, given the master playlist at first playable: seconds until it plays, and errors. */
async function browserCheck(stack: Stack, config: Config, seconds: number, source: string) {
  const hlsJs = readFileSync(path.join(ROOT, "node_modules", "hls.js", "dist", "hls.min.js"));
  const server = http.createServer((req, res) => {
    if (req.url === "/hls.min.js") res.writeHead(200, { "content-type": "text/javascript" }).end(hlsJs);
    else res.writeHead(200, { "content-type": "text/html" }).end(PAGE);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--autoplay-policy=no-user-gesture-required"],
  });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    let startedAt = 0;
    let started: Promise<unknown> = Promise.resolve();
    const run = await runOne(stack, config, seconds, source, (hls) => {
      startedAt = Date.now();
      started = page.evaluate((src) => (window as unknown as { play(s: string): void }).play(src), hls);
    });
    await started;
    await page
      .waitForFunction(() => (document.getElementById("v") as HTMLVideoElement).currentTime > 0.5, null, {
        timeout: 60_000,
      })
      .catch(() => undefined);
    const state = await page.evaluate(() => {
      const v = document.getElementById("v") as HTMLVideoElement;
      const p = (window as unknown as { player: { errors: string[]; playingAt: number | null } }).player;
      return { currentTime: v.currentTime, height: v.videoHeight, errors: p.errors, playingAt: p.playingAt };
    });
    return {
      run,
      playingAfterPlayableSeconds: state.playingAt === null ? null : r1((state.playingAt - startedAt) / 1000),
      currentTime: r1(state.currentTime),
      videoHeight: state.height,
      errors: state.errors,
    };
  } finally {
    await browser.close();
    server.close();
  }
}

const dataDir = mkdtempSync(path.join(os.tmpdir(), "streamlet-bench-chunks-"));
chmodSync(dataDir, 0o755); // the postgres system user must reach its data folder
const logs: string[] = [];
let stack: Stack | undefined;
let exitCode = 1;
try {
  const sources = new Map<number, string>();
  for (const s of LENGTHS) sources.set(s, await sourceFor(s));
  say("starting the stack (redis, postgres, s3rver, wrangler dev; nodes are added per configuration)…");
  stack = await startStack({
    dataDir,
    ports: "random",
    transcoders: 0,
    env: { ...process.env, RATE_LIMITS: "off" },
    log: (name) => (line) => {
      logs.push(`[${name}] ${line}`);
      if (logs.length > 200) logs.shift();
    },
  });
  // One signup warms the edge (first Worker load, database connections) before anything is timed.
  await signedUpClient(stack.edgeUrl, "warm-up");

  const results: RunResult[] = [];
  for (const config of CONFIGS) {
    say(`\n${config.label}: starting ${config.nodes.length} node(s)…`);
    const nodes = await startNodes(stack, config);
    for (const seconds of LENGTHS) {
      say(`${config.label}, ${seconds} s clip:`);
      const result = await runOne(stack, config, seconds, sources.get(seconds) ?? "");
      results.push(result);
      // Each run as it ends, so an interrupted run still leaves its figures.
      mkdirSync(OUT, { recursive: true });
      appendFileSync(
        path.join(OUT, "runs.jsonl"),
        `${JSON.stringify({ date: new Date().toISOString(), ...result })}\n`,
      );
      say(
        `  → first playable ${result.firstPlayableSeconds} s, ready ${result.readySeconds} s (${result.status})`,
      );
    }
    await nodes.stop();
  }

  let browser: Awaited<ReturnType<typeof browserCheck>> | { skipped: string } = { skipped: "--no-browser" };
  if (BROWSER && !existsSync(CHROMIUM)) browser = { skipped: `no Chromium at ${CHROMIUM}` };
  else if (BROWSER) {
    const config = ALL_CONFIGS[0] as Config;
    const seconds = Math.min(...LENGTHS);
    say(`\nhls.js in Chromium at first playable (${config.label}, ${seconds} s clip):`);
    const nodes = await startNodes(stack, { ...config, key: "browser" });
    try {
      browser = await browserCheck(stack, config, seconds, sources.get(seconds) ?? "");
    } finally {
      await nodes.stop();
    }
  }

  const cpus = os.cpus();
  const machine = {
    cpu: cpus[0]?.model ?? "unknown",
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.type()} ${os.release()}`,
    node: process.version,
  };
  const find = (c: string, s: number) => results.find((r) => r.config === c && r.seconds === s);
  const ratios = Object.fromEntries(
    LENGTHS.map((s) => {
      const one = find("pinned1", s)?.readySeconds;
      const two = find("pinned2", s)?.readySeconds;
      return [s, one && two ? Math.round((two / one) * 100) / 100 : null];
    }),
  );

  const cell = (v: string | number | null, w: number) => String(v ?? "-").padStart(w);
  console.log(
    `\nchunked transcoding, 1080p30 hard-to-compress sources, default ladder; seconds after /uploaded answered`,
  );
  console.log(
    `${"clip".padEnd(6)}${"configuration".padEnd(22)}${cell("upload", 8)}${cell("playable", 10)}${cell("(edge)", 8)}${cell("ready", 8)}${cell("2n/1n", 7)}`,
  );
  for (const r of results) {
    const label = ALL_CONFIGS.find((c) => c.key === r.config)?.label ?? r.config;
    console.log(
      `${`${r.seconds}s`.padEnd(6)}${label.padEnd(22)}${cell(r.uploadSeconds, 8)}${cell(r.firstPlayableSeconds, 10)}` +
        `${cell(r.playableAtSeconds, 8)}${cell(r.readySeconds, 8)}${cell(r.config === "pinned2" ? (ratios[r.seconds] ?? null) : null, 7)}`,
    );
  }
  const worstPlayable = Math.max(...results.map((r) => r.firstPlayableSeconds ?? Number.POSITIVE_INFINITY));
  const ratio2min = ratios[120] ?? null;
  console.log(
    `targets: first playable ≤ ${TARGET_PLAYABLE_S} s everywhere (worst ${worstPlayable} s: ${worstPlayable <= TARGET_PLAYABLE_S ? "met" : "missed"}); ` +
      `ready(2 pinned) / ready(1 pinned) ≤ ${TARGET_SPEEDUP} at 2 min (${ratio2min ?? "-"}: ${ratio2min !== null && ratio2min <= TARGET_SPEEDUP ? "met" : "missed"})`,
  );
  if ("run" in browser) {
    console.log(
      `hls.js in Chromium: playing ${browser.playingAfterPlayableSeconds ?? "never"} s after first playable ` +
        `(first playable ${browser.run.firstPlayableSeconds} s; currentTime ${browser.currentTime}, ${browser.videoHeight}p, errors: ${browser.errors.join(" ") || "none"})`,
    );
  } else console.log(`hls.js in Chromium: skipped (${browser.skipped})`);
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
          "one stack (wrangler dev edge, s3rver, Redis, Postgres unpinned); per configuration the nodes are started " +
          "and pinned with taskset -a -p before any job; per clip a new user and video, presigned PUT, POST /uploaded; " +
          "t0 = /uploaded answered; first playable = GET /v1/videos/:id has playback.hls and the master, every " +
          "rendition playlist, its EXT-X-MAP and its first segment answer 200 through the edge (polled every 100 ms); " +
          "ready = status ready (polled every 250 ms)",
        targets: { firstPlayableSeconds: TARGET_PLAYABLE_S, readyRatioTwoOverOnePinned: TARGET_SPEEDUP },
        ratios,
        results,
        browser,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`results: ${file}`);
  exitCode = results.every(
    (r) => r.status === "ready" || (PLAYABLE_ONLY.has(r.seconds) && r.firstPlayableSeconds !== null),
  )
    ? 0
    : 1;
} catch (err) {
  say(`bench failed: ${(err as Error).stack ?? err}`);
  say(logs.slice(-40).join("\n"));
} finally {
  await stack?.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
process.exit(exitCode);
