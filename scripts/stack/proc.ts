import { type ChildProcess, spawn } from "node:child_process";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

export interface Managed {
  name: string;
  child: ChildProcess;
  /** Resolves when the process has exited. */
  exited: Promise<number | null>;
  stop(): Promise<void>;
  /** Sends a signal to the main process only (e.g. SIGTERM to test a graceful shutdown). */
  signal(signal: NodeJS.Signals): void;
  /** SIGKILLs the whole process group at once (a crashed node: no handlers run, children die too). */
  kill(): Promise<void>;
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Where each output line goes; defaults to stderr with a `[name]` prefix. */
  log?: (line: string) => void;
  /** Called with every output line (stdout and stderr). */
  onLine?: (line: string) => void;
  /** Signal that asks the process to stop cleanly (postgres wants SIGINT for a fast shutdown). */
  stopSignal?: NodeJS.Signals;
  /**
   * Send the stop signal to the main process only, not its group (the transcoder: a SIGTERM reaching
   * ffmpeg directly would fail the job instead of letting the transcoder drain or hand it back).
   */
  stopLeaderOnly?: boolean;
  /** How long stop() waits before SIGKILLing the group (default 10 s). */
  stopTimeoutMs?: number;
}

/** Spawns a long-running child in its own process group, so stop() also ends its children. */
export function spawnManaged(name: string, cmd: string, args: string[], opts: SpawnOptions = {}): Managed {
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const log = opts.log ?? ((line: string) => process.stderr.write(`[${name}] ${line}\n`));
  for (const stream of [child.stdout, child.stderr]) {
    let buf = "";
    stream?.setEncoding("utf8");
    stream?.on("data", (chunk: string) => {
      buf += chunk;
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        opts.onLine?.(line);
        log(line);
        nl = buf.indexOf("\n");
      }
    });
  }
  const exited = new Promise<number | null>((resolve) => {
    child.on("exit", (code) => resolve(code));
    child.on("error", (err) => {
      log(`failed to start: ${err.message}`);
      resolve(-1);
    });
  });
  async function stop() {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    if (opts.stopLeaderOnly) signalLeader(opts.stopSignal ?? "SIGTERM");
    else signalGroup(child.pid, opts.stopSignal ?? "SIGTERM");
    const timeoutMs = opts.stopTimeoutMs ?? 10_000;
    const done = await Promise.race([exited.then(() => true), sleep(timeoutMs).then(() => false)]);
    if (!done) {
      signalGroup(child.pid, "SIGKILL");
      await exited;
    }
  }
  function signalLeader(signal: NodeJS.Signals) {
    if (child.exitCode !== null || child.signalCode !== null) return;
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
  async function kill() {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    signalGroup(child.pid, "SIGKILL");
    await exited;
  }
  return { name, child, exited, stop, signal: signalLeader, kill };
}

function signalGroup(pid: number, signal: NodeJS.Signals) {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** Runs a command to completion and returns its output; throws with the output on a non-zero exit. */
export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}) {
  return new Promise<string>((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      out += d;
    });
    child.on("error", reject);
    child.on("exit", (code) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(" ")} exited with ${code}:\n${out.slice(-4000)}`));
    });
  });
}

/** Waits until something accepts TCP connections on host:port. */
export async function waitForPort(port: number, host = "127.0.0.1", timeoutMs = 30_000, proc?: Managed) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc && proc.child.exitCode !== null)
      throw new Error(`${proc.name} exited with ${proc.child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ port, host }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on("error", () => resolve(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`nothing listening on ${host}:${port} after ${timeoutMs} ms`);
}

/** Waits until an HTTP GET answers 2xx. */
export async function waitForHttp(url: string, timeoutMs = 60_000, proc?: Managed) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc && proc.child.exitCode !== null)
      throw new Error(`${proc.name} exited with ${proc.child.exitCode}`);
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await sleep(250);
  }
  throw new Error(`${url} did not answer 2xx within ${timeoutMs} ms`);
}

/** Asks the kernel for a free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject()));
    });
    server.on("error", reject);
  });
}

/** Fails clearly when a fixed port is taken (say, by another `npm run dev`) instead of half-starting. */
export function assertPortFree(port: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", () =>
      reject(new Error(`port ${port} (${what}) is already in use on 127.0.0.1: is another stack running?`)),
    );
    server.listen(port, "127.0.0.1", () => server.close(() => resolve()));
  });
}
