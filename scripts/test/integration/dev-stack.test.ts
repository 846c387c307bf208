/**
 * `npm run dev` always cleans up: the real command, in its own process group (as a terminal runs it),
 * on its own ports and data folder, interrupted at each awkward moment. After each, every process it
 * started (recorded from /proc while it ran: redis, postgres and its backends, s3rver, wrangler and
 * workerd, the transcoder and its ffmpeg, the watchdog) must be gone within 10 s and every port any of
 * them listened on must be free. Each run reuses the folder and ports of the previous one, so each start
 * also proves the previous stop left nothing locked.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient, watchProgress } from "../../stack/client.ts";
import { makeClip } from "../../stack/clip.ts";
import { freePort } from "../../stack/proc.ts";
import { ROOT } from "../../stack/services.ts";
import { procStat } from "../../stack/supervisor.ts";

const STOP_WITHIN_MS = 10_000;

interface Seen {
  pid: number;
  startTime: number;
  cmd: string;
}

/** A running `npm run dev` and what it has started so far. */
interface Dev {
  child: ChildProcess;
  /** npm's pid, which is also the group a terminal would signal. */
  pgid: number;
  output: string[];
  /** Every process that descended from npm while we watched, by pid (with its start time). */
  seen: Map<number, Seen>;
  /** Every TCP port one of them listened on. */
  ports: Map<string, { address: string; port: number }>;
  /** Records the current descendants and their listening ports (also done every 250 ms). */
  snapshot(): void;
  stopWatching(): void;
}

let dataDir = "";
let clip = "";
let ports = { edge: 0, redis: 0, postgres: 0, neonBridge: 0, s3: 0 };
const started: Dev[] = [];

function commandLine(pid: number) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ").trim().slice(0, 160);
  } catch {
    return "?";
  }
}

/** npm and everything below it, by parent pid (detached children included: they keep their parent). */
function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(Number(entry));
    if (!stat) continue;
    const list = children.get(stat.ppid) ?? [];
    list.push(Number(entry));
    children.set(stat.ppid, list);
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** Listening TCP sockets by inode, from /proc/net/tcp and tcp6. */
function listeningSockets() {
  const byInode = new Map<string, { address: string; port: number }>();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== "0A") continue;
      const [hex = "", portHex = ""] = (f[1] ?? "").split(":");
      let address: string;
      if (hex.length === 8)
        address = (hex.match(/../g) ?? [])
          .reverse()
          .map((b) => parseInt(b, 16))
          .join(".");
      else if (/^0+$/.test(hex)) address = "::";
      else if (hex === "00000000000000000000000001000000") address = "::1";
      else address = "::";
      byInode.set(f[9] ?? "", { address, port: parseInt(portHex, 16) });
    }
  }
  return byInode;
}

function isAlive(p: Seen) {
  const stat = procStat(p.pid);
  return !!stat && stat.state !== "Z" && stat.startTime === p.startTime;
}

function canListen(address: string, port: number) {
  return new Promise<boolean>((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen({ host: address, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

function startDev(): Dev {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(VITEST|NODE_OPTIONS$|TEST_)/.test(k)) env[k] = v;
  Object.assign(env, {
    STREAMLET_DATA_DIR: dataDir,
    STREAMLET_EDGE_PORT: String(ports.edge),
    STREAMLET_REDIS_PORT: String(ports.redis),
    STREAMLET_POSTGRES_PORT: String(ports.postgres),
    STREAMLET_NEON_BRIDGE_PORT: String(ports.neonBridge),
    STREAMLET_S3_PORT: String(ports.s3),
    TRANSCODERS: "1",
    OPS_PORT: "0",
    // Set and empty: wins over a developer's .env, so every service is started here.
    REDIS_URL: "",
    DATABASE_URL: "",
    S3_ENDPOINT: "",
    NEON_WS_PROXY: "",
    NO_COLOR: "1",
  });
  const child = spawn("npm", ["run", "dev"], {
    cwd: ROOT,
    env,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const pgid = child.pid as number;
  const output: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    stream?.setEncoding("utf8");
    stream?.on("data", (chunk: string) => {
      output.push(...chunk.split("\n").filter(Boolean));
      if (output.length > 2000) output.splice(0, output.length - 2000);
    });
  }
  const seen = new Map<number, Seen>();
  const listening = new Map<string, { address: string; port: number }>();
  const snapshot = () => {
    const sockets = listeningSockets();
    for (const pid of descendants(pgid)) {
      const stat = procStat(pid);
      if (!stat || stat.state === "Z") continue;
      if (!seen.has(pid)) seen.set(pid, { pid, startTime: stat.startTime, cmd: commandLine(pid) });
      let fds: string[] = [];
      try {
        fds = readdirSync(`/proc/${pid}/fd`);
      } catch {
        continue;
      }
      for (const fd of fds) {
        let link = "";
        try {
          link = readlinkSync(`/proc/${pid}/fd/${fd}`);
        } catch {
          continue;
        }
        const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
        const sock = inode ? sockets.get(inode) : undefined;
        if (sock) listening.set(`${sock.address}:${sock.port}`, sock);
      }
    }
  };
  const timer = setInterval(snapshot, 250);
  const dev: Dev = {
    child,
    pgid,
    output,
    seen,
    ports: listening,
    snapshot,
    stopWatching: () => clearInterval(timer),
  };
  started.push(dev);
  return dev;
}

async function waitFor(what: string, dev: Dev, check: () => boolean | Promise<boolean>, timeoutMs = 180_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    if (dev.child.exitCode !== null)
      throw new Error(`npm run dev exited (${dev.child.exitCode}) before ${what}`);
    await sleep(100);
  }
  throw new Error(`no ${what} within ${timeoutMs} ms`);
}

const healthy = async () => {
  try {
    const res = await fetch(`http://127.0.0.1:${ports.edge}/healthz`, { signal: AbortSignal.timeout(2000) });
    return res.ok;
  } catch {
    return false;
  }
};
const answers = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on("error", () => resolve(false));
  });
const isReady = (dev: Dev) => dev.output.some((l) => l.includes("Streamlet is running"));

/** Signals, then measures how long until nothing it started is left; checks its ports are free. */
async function expectAllGone(
  dev: Dev,
  signal: () => void,
  then?: () => Promise<void>,
  /** The services' own ports, which must be among those checked (all are up once the edge answers). */
  expected = [ports.edge, ports.redis, ports.postgres, ports.s3],
) {
  dev.snapshot();
  dev.stopWatching();
  const t0 = Date.now();
  signal();
  await then?.();
  const alive = () => [...dev.seen.values()].filter(isAlive);
  while (alive().length > 0 && Date.now() - t0 < STOP_WITHIN_MS + 5000) await sleep(50);
  const tookMs = Date.now() - t0;
  const left = alive().map((p) => `${p.pid} ${p.cmd}`);
  if (left.length > 0 || tookMs > STOP_WITHIN_MS)
    process.stderr.write(`${dev.output.slice(-80).join("\n")}\n`);
  expect(left).toEqual([]);
  expect(tookMs).toBeLessThan(STOP_WITHIN_MS);
  const busy: string[] = [];
  for (const { address, port } of dev.ports.values())
    if (!(await canListen(address, port))) busy.push(`${address}:${port}`);
  expect(busy).toEqual([]);
  const bound = [...dev.ports.values()].map((p) => p.port);
  for (const port of expected) expect(bound).toContain(port);
  // Which side did the stopping: the supervisor itself, or its watchdog (when it was killed, or when the
  // tsx CLI wrapper SIGKILLed it for not acknowledging a relayed signal within 60 ms).
  const by = dev.output.some((l) => l.includes("supervisor gone")) ? "its watchdog" : "the supervisor";
  process.stderr.write(
    `dev-stack: ${dev.seen.size} processes, ${dev.ports.size} ports, all gone ${tookMs} ms after the signal (stopped by ${by})\n`,
  );
  if (process.env.STACK_LOGS === "1") process.stderr.write(`${dev.output.slice(-40).join("\n")}\n`);
  return tookMs;
}

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(os.tmpdir(), "streamlet-dev-test-"));
  chmodSync(dataDir, 0o755); // the postgres system user must reach its data folder
  ports = {
    edge: await freePort(),
    redis: await freePort(),
    postgres: await freePort(),
    neonBridge: await freePort(),
    s3: await freePort(),
  };
  clip = await makeClip(path.join(dataDir, "clip.mp4"), { seconds: 12, width: 1280, height: 720 });
});

afterAll(() => {
  // A failed test may leave a stack running: nothing of it may outlive the file.
  for (const dev of started) {
    dev.stopWatching();
    try {
      process.kill(-dev.pgid, "SIGKILL");
    } catch {
      // gone
    }
    for (const p of dev.seen.values()) if (isAlive(p)) process.kill(p.pid, "SIGKILL");
  }
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe("npm run dev cleans up", () => {
  it("after a SIGKILL of the whole command while it starts (the watchdog stops its children)", async () => {
    const dev = startDev();
    await waitFor("edge /healthz", dev, healthy);
    expect(isReady(dev)).toBe(false);
    await expectAllGone(dev, () => process.kill(-dev.pgid, "SIGKILL"));
  }, 240_000);

  it("after a SIGTERM to npm alone while it starts (as a process manager sends it)", async () => {
    const dev = startDev(); // same folder and ports: the previous run left nothing locked
    await waitFor("postgres", dev, () => answers(ports.postgres));
    // npm's `sh -c` dies of it without passing it on; the supervisor sees its launchers go and stops.
    await expectAllGone(dev, () => process.kill(dev.pgid, "SIGTERM"), undefined, [
      ports.redis,
      ports.postgres,
    ]);
  }, 240_000);

  it("after Ctrl-C while it starts, and a second signal (SIGTERM) while it stops", async () => {
    const dev = startDev(); // same folder and ports: the previous run left nothing locked
    await waitFor("edge /healthz", dev, healthy);
    expect(isReady(dev)).toBe(false);
    let firstAt = 0;
    await expectAllGone(
      dev,
      () => {
        firstAt = Date.now();
        process.kill(-dev.pgid, "SIGINT");
      },
      async () => {
        // The second signal while it is stopping: once it says so, and past the supervisor's 0.4 s
        // debounce of one Ctrl-C delivered twice (terminal + npm relay).
        await waitFor("the stopping line", dev, () => dev.output.some((l) => l.includes("stopping…")), 5_000);
        await sleep(Math.max(0, firstAt + 450 - Date.now()));
        try {
          process.kill(-dev.pgid, "SIGTERM");
        } catch (err) {
          // Everything already gone (ESRCH) is the outcome this test wants anyway.
          if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
        }
      },
    );
  }, 240_000);

  it("after Ctrl-C in the middle of a transcode (the job is handed back)", async () => {
    const dev = startDev();
    await waitFor("the ready banner", dev, () => isReady(dev));
    const edgeUrl = `http://127.0.0.1:${ports.edge}`;
    // The banner names the web app, which the edge serves (the built app, not the API's 404).
    expect(dev.output.join("\n")).toContain(`web app       ${edgeUrl}/`);
    const app = await fetch(`${edgeUrl}/upload`);
    expect(app.headers.get("content-type")).toMatch(/text\/html/);
    expect(await app.text()).toContain('<div id="app">');
    const api = apiClient(edgeUrl);
    await api.signup(`dev-${Date.now()}@example.com`, "correct-horse-battery-staple");
    const created = await api.createVideo("interrupted", clip);
    let transcoding = false;
    const sub = watchProgress(edgeUrl, created.video.id, api.accessToken(), {
      onEvent: (e) => {
        if (e.type === "transcoding") transcoding = true;
      },
    });
    try {
      await api.upload(created, clip);
      await api.markUploaded(created.video.id);
      await waitFor("a transcoding progress event", dev, () => transcoding, 120_000);
    } finally {
      sub.close();
    }
    dev.snapshot();
    expect([...dev.seen.values()].some((p) => /\bffmpeg\b/.test(p.cmd))).toBe(true);
    await expectAllGone(dev, () => process.kill(-dev.pgid, "SIGINT"));
    expect(dev.output.join("\n")).toContain("handing running jobs back to the queue");
  }, 300_000);
});
