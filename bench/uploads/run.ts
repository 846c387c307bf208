/**
 * Upload throughput benchmark (issue 12): one presigned PUT of a 1 GiB file against a multipart upload
 * with N parts in flight (N = 1, 2, 4, 8; 16 MiB and 64 MiB parts), through the real client path
 * (POST /v1/videos, then shared/src/upload-client.ts via scripts/stack/client.ts `upload`: part URLs
 * from the edge, parts PUT straight to storage) against the stack's local S3 server (s3rver behind
 * scripts/stack/s3-server.ts), all in one run, with ratios against the one-PUT baseline of that run.
 *
 * One stack, several edges: the plan (one PUT or parts, and the part size) is fixed by the file's size
 * when the video is created, from the edge's MULTIPART_THRESHOLD_BYTES and UPLOAD_PART_BYTES. So the
 * stack's own edge runs with the threshold at 5 GiB (every file one PUT), and one more `wrangler dev`
 * per part size shares its Redis, Postgres, S3 server and secrets with the threshold at 0 (every file in
 * parts). One S3 server process serves every case (its CPU time is read from /proc per case), and the
 * cases can be interleaved within a round instead of running on two stacks started minutes apart.
 *
 * Per measurement: a video is created (untimed), `upload()` is timed (edge round trips for the upload
 * state and part URLs included), then POST /uploaded is timed apart (it completes the multipart upload:
 * s3rver then copies every part into one object, which S3 and B2 do not need to do byte by byte), then
 * the video is deleted (aborting the upload and removing its object) so the disk never holds more than
 * one copy. Before the rounds, one small untimed upload through each edge warms s3rver, the edges and
 * the connections. Each round runs every case once, the order rotated by round, so drift hits all.
 * The file is written once (a random 1 MiB block repeated; s3rver neither compresses nor dedups), so
 * it is read from the page cache: the client's disk is not measured, nor, with 1 GiB written and
 * deleted at a time on a machine with far more memory than that, is the server's.
 *
 * Measured per upload: MB/s, the S3 server's CPU time (/proc/<pid>/stat), this process's CPU time, the
 * machine's busy share, this process's peak RSS (VmHWM after clear_refs) and peak ArrayBuffer memory
 * (sampled; a full GC runs before each case, so it is that upload's own).
 *
 * Run: npm run bench:uploads
 * Knobs: BENCH_UPLOAD_BYTES (1GiB; e.g. 64MiB while developing; at most 5GiB, the one-PUT limit),
 * BENCH_ROUNDS (3), BENCH_CONCURRENCY (parts in flight, "1,2,4,8"), BENCH_PART_SIZES ("16MiB,64MiB").
 * Results: a Markdown table on stdout; bench/uploads/out/results.json and runs.jsonl (one line per
 * measurement, as it ends).
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import {
  appendFileSync,
  chmodSync,
  createWriteStream,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import v8 from "node:v8";
import vm from "node:vm";
import { apiClient, signedUpClient } from "../../scripts/stack/client.ts";
import { freePort } from "../../scripts/stack/proc.ts";
import { S3_ACCESS_KEY, S3_SECRET_KEY, startEdge, startS3 } from "../../scripts/stack/services.ts";
import { type Stack, startStack } from "../../scripts/stack/stack.ts";
import { Supervisor } from "../../scripts/stack/supervisor.ts";

const OUT = path.join(path.dirname(fileURLToPath(import.meta.url)), "out");
const MIB = 1024 ** 2;
const GIB = 1024 ** 3;
const BUCKET = "streamlet";

// A full garbage collection before each measurement, so no case pays for the previous one's garbage
// and the buffers peak is this upload's own (node has no --expose-gc under tsx without this).
v8.setFlagsFromString("--expose-gc");
const collectGarbage = vm.runInNewContext("gc") as () => void;

const say = (msg: string) => process.stderr.write(`${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;
const round3 = (n: number) => round(n, 3);

/** "1GiB", "64MiB", "500MB" or plain bytes. */
function parseBytes(text: string): number {
  const units: Record<string, number> = { "": 1, k: 1e3, m: 1e6, g: 1e9, ki: 1024, mi: MIB, gi: GIB };
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmg]i?)?b?\s*$/i.exec(text);
  const bytes = match ? Math.round(Number(match[1]) * (units[(match[2] ?? "").toLowerCase()] ?? NaN)) : NaN;
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new Error(`not a size: "${text}"`);
  return bytes;
}
const list = (text: string) =>
  text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
const sizeLabel = (bytes: number) => (bytes % MIB === 0 ? `${bytes / MIB} MiB` : `${bytes} B`);

const BYTES = parseBytes(process.env.BENCH_UPLOAD_BYTES ?? "1GiB");
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
const CONCURRENCY = list(process.env.BENCH_CONCURRENCY ?? "1,2,4,8").map(Number);
const PART_SIZES = list(process.env.BENCH_PART_SIZES ?? "16MiB,64MiB").map(parseBytes);
if (BYTES > 5 * GIB) throw new Error("BENCH_UPLOAD_BYTES: one PUT takes at most 5 GiB");
if (CONCURRENCY.some((n) => !Number.isInteger(n) || n < 1)) throw new Error("BENCH_CONCURRENCY: 1,2,4,…");
/** The warm-up upload's size: two parts of the largest part size, or the file if smaller. */
const WARM_BYTES = Math.min(BYTES, 2 * Math.max(...PART_SIZES, 16 * MIB));

interface Case {
  key: string;
  label: string;
  /** Which edge creates the video: "single" (threshold 5 GiB) or a part size's edge. */
  edge: string;
  partBytes: number | null;
  concurrency: number | null;
}

const CASES: Case[] = [
  { key: "put", label: "one PUT", edge: "single", partBytes: null, concurrency: null },
  ...PART_SIZES.flatMap((partBytes) =>
    CONCURRENCY.map((n) => ({
      key: `parts${partBytes / MIB}m-x${n}`,
      label: `${sizeLabel(partBytes)} parts × ${n}`,
      edge: `parts-${partBytes}`,
      partBytes,
      concurrency: n,
    })),
  ),
];

// ---- /proc readings (Linux): CPU time of a process, of the machine, and this process's peak RSS ----

const CLK_TCK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of a process, in seconds (null once it is gone). */
function processCpuSeconds(pid: number): number | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return null;
  }
}

/** The machine's busy and total CPU time so far (all cores), in seconds. */
function machineCpuSeconds(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  const [, user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line
    .trim()
    .split(/\s+/)
    .map(Number);
  const total = user + nice + system + idle + iowait + irq + softirq + steal;
  return { busy: (total - idle - iowait) / CLK_TCK, total: total / CLK_TCK };
}

/** Resets a process's peak RSS to its current RSS (Linux ≥ 4.0); false where not allowed. */
function resetPeakRss(pid: number | "self"): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/** A process's peak RSS (VmHWM) in MiB. */
function peakRssMiB(pid: number | "self"): number | null {
  try {
    const kib = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kib ? round(Number(kib) / 1024) : null;
  } catch {
    return null;
  }
}

/** Writes `bytes` of a random 1 MiB block repeated (backpressure respected). */
async function generateFile(file: string, bytes: number) {
  const block = randomBytes(MIB);
  const out = createWriteStream(file);
  for (let left = bytes; left > 0; left -= MIB) {
    if (!out.write(left >= MIB ? block : block.subarray(0, left))) await once(out, "drain");
  }
  out.end();
  await once(out, "finish");
}

/** Bytes under a folder (to see that deleted videos left nothing behind in the S3 server's folder). */
function folderBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += statSync(path.join(entry.parentPath, entry.name)).size;
  }
  return total;
}

interface Measurement {
  case: string;
  round: number;
  position: number;
  bytes: number;
  partCount: number;
  uploadSeconds: number;
  mbPerSecond: number;
  /** POST /uploaded: completion of the multipart upload (s3rver copies the parts into one object). */
  confirmSeconds: number;
  /** The S3 server's CPU time during POST /uploaded. */
  confirmS3CpuSeconds: number | null;
  s3CpuSeconds: number | null;
  clientCpuSeconds: number;
  /** Busy share of all cores during the upload (2 cores: 100 % = both busy), others' load included. */
  machineBusyPercent: number;
  clientRssBeforeMiB: number;
  /**
   * This process's peak RSS during the upload. RSS a larger upload grew stays resident after it (the
   * allocator keeps it), so a case after a one-PUT case cannot show a lower peak: see the buffers peak.
   */
  clientPeakRssMiB: number | null;
  /** Peak of ArrayBuffer/Buffer memory held by this process during the upload (sampled every 50 ms). */
  clientBuffersPeakMiB: number;
  s3PeakRssMiB: number | null;
  edgeReloads: number;
  error?: string;
}

type Client = ReturnType<typeof apiClient>;

let edgeReloads = 0;

async function measure(
  client: Client,
  c: Case,
  file: string,
  roundNo: number,
  position: number,
  s3Pid: number,
): Promise<Measurement> {
  const created = await client.createVideo(`bench-uploads ${c.key} r${roundNo}`, file);
  const ticket = created.upload;
  const wanted = c.partBytes === null ? "single" : "multipart";
  if (!ticket || ticket.kind !== wanted || (ticket.kind === "multipart" && ticket.partSize !== c.partBytes)) {
    throw new Error(`${c.key}: the edge planned ${JSON.stringify(ticket && { ...ticket, url: undefined })}`);
  }
  const partCount = ticket.kind === "multipart" ? ticket.partCount : 1;
  const reloadsBefore = edgeReloads;
  collectGarbage();
  const rssBefore = process.memoryUsage.rss();
  const rssReset = resetPeakRss("self");
  const s3RssReset = resetPeakRss(s3Pid);
  const s3Before = processCpuSeconds(s3Pid);
  const machineBefore = machineCpuSeconds();
  const cpuBefore = process.cpuUsage();
  let buffersPeak = process.memoryUsage().arrayBuffers;
  const sampler = setInterval(() => {
    buffersPeak = Math.max(buffersPeak, process.memoryUsage().arrayBuffers);
  }, 50);
  const t0 = performance.now();
  let error: string | undefined;
  try {
    await client.upload(created, file, c.concurrency === null ? {} : { concurrency: c.concurrency });
  } catch (err) {
    error = (err as Error).message;
  }
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  const cpu = process.cpuUsage(cpuBefore);
  const machineAfter = machineCpuSeconds();
  const s3After = processCpuSeconds(s3Pid);
  const clientPeak = rssReset ? peakRssMiB("self") : null;
  const s3Peak = s3RssReset ? peakRssMiB(s3Pid) : null;
  let confirmSeconds = Number.NaN;
  let confirmS3Cpu: number | null = null;
  if (!error) {
    const t1 = performance.now();
    await client.markUploaded(created.video.id);
    confirmSeconds = (performance.now() - t1) / 1000;
    const s3Done = processCpuSeconds(s3Pid);
    confirmS3Cpu = s3Done === null || s3After === null ? null : round3(s3Done - s3After);
  }
  const { response } = await client.api.DELETE("/v1/videos/{id}", {
    params: { path: { id: created.video.id } },
  });
  if (!response.ok) say(`  delete answered ${response.status}`);
  return {
    case: c.key,
    round: roundNo,
    position,
    bytes: ticket.size,
    partCount,
    uploadSeconds: round3(seconds),
    mbPerSecond: round(ticket.size / seconds / 1e6),
    confirmSeconds: round3(confirmSeconds),
    confirmS3CpuSeconds: confirmS3Cpu,
    s3CpuSeconds: s3Before === null || s3After === null ? null : round3(s3After - s3Before),
    clientCpuSeconds: round3((cpu.user + cpu.system) / 1e6),
    machineBusyPercent: round(
      ((machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total)) * 100,
    ),
    clientRssBeforeMiB: round(rssBefore / MIB),
    clientPeakRssMiB: clientPeak,
    clientBuffersPeakMiB: round(buffersPeak / MIB),
    s3PeakRssMiB: s3Peak,
    edgeReloads: edgeReloads - reloadsBefore,
    ...(error ? { error } : {}),
  };
}
function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Case order for a round: rotated by round × ⌈cases / rounds⌉, so each case runs early, mid and late. */
function orderFor(r: number): Case[] {
  const shift = (r * Math.ceil(CASES.length / ROUNDS)) % CASES.length;
  return [...CASES.slice(shift), ...CASES.slice(0, shift)];
}

const dataDir = mkdtempSync(path.join(os.tmpdir(), "streamlet-bench-uploads-"));
chmodSync(dataDir, 0o755); // the postgres system user must reach its data folder
const logs: string[] = [];
const log = (name: string) => (line: string) => {
  logs.push(`[${name}] ${line}`);
  if (logs.length > 200) logs.shift();
  // wrangler dev rebuilds when a source file changes: the measurement during it is marked.
  if (name === "edge" && /reload/i.test(line)) {
    edgeReloads += 1;
    say(`edge: ${line.trim()}`);
  }
};
const supervisor = new Supervisor();
let stack: Stack | undefined;
let exitCode = 1;
try {
  const file = path.join(dataDir, "upload.bin");
  const warmFile = path.join(dataDir, "warm.bin");
  say(`writing a ${sizeLabel(BYTES)} file…`);
  const genStart = performance.now();
  await generateFile(file, BYTES);
  await generateFile(warmFile, WARM_BYTES);
  say(`  ${round((performance.now() - genStart) / 1000)} s`);

  say("starting the stack (redis, postgres, S3 server, wrangler dev; no transcoder)…");
  const s3Dir = path.join(dataDir, "s3");
  const s3 = await startS3({ dir: s3Dir, port: await freePort(), bucket: BUCKET, log, supervisor });
  const s3Pid = s3.proc.child.pid;
  if (s3Pid === undefined) throw new Error("the S3 server has no pid");
  stack = await startStack({
    dataDir,
    ports: "random",
    transcoders: 0,
    supervisor,
    env: {
      ...process.env,
      RATE_LIMITS: "off",
      STORAGE_QUOTA_BYTES: "off",
      MULTIPART_THRESHOLD_BYTES: "5GiB",
      S3_ENDPOINT: s3.endpoint,
      S3_PUBLIC_ENDPOINT: s3.endpoint,
      S3_BUCKET: BUCKET,
      S3_ACCESS_KEY_ID: S3_ACCESS_KEY,
      S3_SECRET_ACCESS_KEY: S3_SECRET_KEY,
    },
    log,
  });
  const edges = new Map<string, string>([["single", stack.edgeUrl]]);
  for (const partBytes of PART_SIZES) {
    say(`starting an edge for ${sizeLabel(partBytes)} parts…`);
    const edge = await startEdge({
      dataDir: path.join(dataDir, `edge-parts-${partBytes}`),
      port: await freePort(),
      vars: {
        ...stack.edgeVars,
        MULTIPART_THRESHOLD_BYTES: "0",
        UPLOAD_PART_BYTES: String(partBytes),
      },
      log,
      supervisor,
    });
    edges.set(`parts-${partBytes}`, edge.url);
  }

  // One user; every edge shares the database and the JWT secret, so its token works on each.
  const user = await signedUpClient(stack.edgeUrl, "bench-uploads");
  const clients = new Map<string, Client>();
  for (const [key, url] of edges) {
    const client = apiClient(url);
    client.useToken(user.accessToken());
    clients.set(key, client);
  }
  const clientFor = (c: Case) => clients.get(c.edge) as Client;

  say("warming up (one small upload through each edge, untimed)…");
  for (const c of CASES.filter((c, i, all) => all.findIndex((o) => o.edge === c.edge) === i)) {
    const m = await measure(clientFor(c), c, warmFile, 0, 0, s3Pid);
    if (m.error) throw new Error(`warm-up ${c.key}: ${m.error}`);
  }

  mkdirSync(OUT, { recursive: true });
  const runsFile = path.join(OUT, "runs.jsonl");
  const results: Measurement[] = [];
  const started = new Date().toISOString();
  for (let r = 1; r <= ROUNDS; r++) {
    say(`\nround ${r} of ${ROUNDS}:`);
    for (const [i, c] of orderFor(r - 1).entries()) {
      const m = await measure(clientFor(c), c, file, r, i + 1, s3Pid);
      results.push(m);
      appendFileSync(runsFile, `${JSON.stringify({ date: new Date().toISOString(), ...m })}\n`);
      say(
        `  ${c.label.padEnd(22)} ${m.error ? `FAILED: ${m.error}` : `${m.mbPerSecond} MB/s (${m.uploadSeconds} s)`}` +
          `  /uploaded ${m.confirmSeconds} s  s3 CPU ${m.s3CpuSeconds} s  client CPU ${m.clientCpuSeconds} s` +
          `  busy ${m.machineBusyPercent} %${m.edgeReloads ? "  EDGE RELOADED" : ""}`,
      );
      await sleep(500);
    }
  }

  const leftInS3 = folderBytes(s3Dir);
  const ok = (key: string) => results.filter((m) => m.case === key && !m.error);
  const baseline = median(ok("put").map((m) => m.mbPerSecond));
  const summary = CASES.map((c) => {
    const ms = ok(c.key);
    const pick = (f: (m: Measurement) => number | null) =>
      ms.map(f).filter((v): v is number => v !== null && Number.isFinite(v));
    const mbps = pick((m) => m.mbPerSecond);
    const med = median(mbps);
    return {
      case: c.key,
      label: c.label,
      partBytes: c.partBytes,
      concurrency: c.concurrency,
      partCount: ms[0]?.partCount ?? null,
      samples: ms.length,
      failures: results.filter((m) => m.case === c.key && m.error).length,
      mbPerSecond: { median: round(med), min: Math.min(...mbps), max: Math.max(...mbps) },
      ratioToOnePut: round(med / baseline, 2),
      uploadSeconds: round3(median(pick((m) => m.uploadSeconds))),
      confirmSeconds: round3(median(pick((m) => m.confirmSeconds))),
      confirmS3CpuSeconds: round3(median(pick((m) => m.confirmS3CpuSeconds))),
      s3CpuSeconds: round3(median(pick((m) => m.s3CpuSeconds))),
      clientCpuSeconds: round3(median(pick((m) => m.clientCpuSeconds))),
      machineBusyPercent: round(median(pick((m) => m.machineBusyPercent))),
      clientRssBeforeMiB: round(median(pick((m) => m.clientRssBeforeMiB))),
      clientPeakRssMiB: Math.max(...pick((m) => m.clientPeakRssMiB)),
      clientBuffersPeakMiB: Math.max(...pick((m) => m.clientBuffersPeakMiB)),
      s3PeakRssMiB: Math.max(...pick((m) => m.s3PeakRssMiB)),
    };
  });

  const cpus = os.cpus();
  const machine = {
    cpu: cpus[0]?.model ?? "unknown",
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / GIB),
    platform: `${os.type()} ${os.release()}`,
    node: process.version,
    loadAverage: os.loadavg().map((l) => round(l, 2)),
  };
  const cell = (v: number | string | null) =>
    v === null || (typeof v === "number" && !Number.isFinite(v)) ? "-" : String(v);
  console.log(
    `\nUpload of ${sizeLabel(BYTES)} to the local S3 server, ${ROUNDS} rounds, MB = 10^6 bytes; medians ` +
      `(min-max); ratio = median MB/s / one PUT's median MB/s; CPU seconds per upload`,
  );
  console.log(
    "\n| case | parts | MB/s | ratio | upload s | /uploaded s | s3 server CPU s | client CPU s | machine busy | client RSS before → peak | client buffers peak | s3 peak RSS |",
  );
  console.log("|---|---|---|---|---|---|---|---|---|---|---|---|");
  for (const s of summary) {
    console.log(
      `| ${s.label} | ${cell(s.partCount)} | ${cell(s.mbPerSecond.median)} (${cell(s.mbPerSecond.min)}-${cell(s.mbPerSecond.max)}) ` +
        `| ${s.case === "put" ? "1.00" : cell(s.ratioToOnePut)} | ${cell(s.uploadSeconds)} | ${cell(s.confirmSeconds)} ` +
        `| ${cell(s.s3CpuSeconds)} | ${cell(s.clientCpuSeconds)} | ${cell(s.machineBusyPercent)} % ` +
        `| ${cell(s.clientRssBeforeMiB)} → ${cell(s.clientPeakRssMiB)} MiB | ${cell(s.clientBuffersPeakMiB)} MiB | ${cell(s.s3PeakRssMiB)} MiB |${s.failures ? ` ${s.failures} failed |` : ""}`,
    );
  }
  console.log(
    `\nmachine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.platform}, node ${machine.node}; ` +
      `load ${machine.loadAverage.join(" ")}; left in the S3 folder: ${leftInS3} bytes`,
  );
  const file2 = path.join(OUT, "results.json");
  writeFileSync(
    file2,
    `${JSON.stringify(
      {
        date: started,
        machine,
        bytes: BYTES,
        rounds: ROUNDS,
        method:
          "one stack (wrangler dev, s3rver via scripts/stack/s3-server.ts, Redis, Postgres; no transcoder); the " +
          "stack's edge with MULTIPART_THRESHOLD_BYTES=5GiB for the one PUT, one more edge per part size with " +
          "the threshold at 0; per measurement: POST /v1/videos (untimed), client.upload() timed, POST /uploaded " +
          "timed apart, DELETE (untimed); cases interleaved, order rotated per round; one untimed warm-up per edge; " +
          "CPU from /proc/<pid>/stat (s3 server) and process.cpuUsage() (client); peak RSS = VmHWM after clear_refs 5",
        dirtyPageSettings: {
          dirtyRatio: Number(readFileSync("/proc/sys/vm/dirty_ratio", "utf8")),
          dirtyBackgroundRatio: Number(readFileSync("/proc/sys/vm/dirty_background_ratio", "utf8")),
        },
        baselineMbPerSecond: baseline,
        summary,
        measurements: results,
        leftInS3Bytes: leftInS3,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`results: ${file2}`);
  exitCode = results.every((m) => !m.error) ? 0 : 1;
} catch (err) {
  say(`bench failed: ${(err as Error).stack ?? err}`);
  say(logs.slice(-40).join("\n"));
} finally {
  await (stack?.stop() ?? supervisor.stopAll());
  rmSync(dataDir, { recursive: true, force: true });
}
process.exit(exitCode);
