import { type ChildProcess, spawn } from "node:child_process";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { type Group, Supervisor, signalGroup, sweepGroup } from "./supervisor.ts";

export interface Managed {
  name: string;
  child: ChildProcess;
  /** Resolves when the process has exited. */
  exited: Promise<number | null>;
  /** Stops it (stop signal, then SIGKILL for its group after the timeout); resolves when its group is empty. */
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
   * ffmpeg directly would fail the job instead of letting the transcoder drain or hand it back; the
   * postmaster stops its own backends).
   */
  stopLeaderOnly?: boolean;
  /** How long stop() waits before SIGKILLing the group (default 3 s). */
  stopTimeoutMs?: number;
  /**
   * A second stop signal makes it hurry (the transcoder hands running jobs back): sent when the timeout
   * passes or on hurry(), then 1.5 s more before SIGKILL.
   */
  stopRepeatable?: boolean;
  /** Stopped before everything else by Supervisor.stopAll() (the transcoders). */
  stopFirst?: boolean;
  /** The stack it belongs to (default: one supervisor for the whole process). */
  supervisor?: Supervisor;
}

/** The supervisor of children spawned without one (e.g. a lone Postgres in a test setup). */
export const defaultSupervisor = new Supervisor();

/**
 * Spawns a long-running child in its own process group, so stop() also ends its children; its
 * supervisor's watchdog ends the group if this process dies first.
 */
export function spawnManaged(name: string, cmd: string, args: string[], opts: SpawnOptions = {}): Managed {
  const supervisor = opts.supervisor ?? defaultSupervisor;
  supervisor.assertOpen(name);
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
  const pid = child.pid;
  const exited = new Promise<number | null>((resolve) => {
    child.on("exit", (code) => resolve(code));
    child.on("error", (err) => {
      log(`failed to start: ${err.message}`);
      resolve(-1);
    });
  });
  const running = () => pid !== undefined && child.exitCode === null && child.signalCode === null;
  const stopSignal = opts.stopSignal ?? "SIGTERM";
  const send = (signal: NodeJS.Signals) => {
    if (!running() || pid === undefined) return;
    if (opts.stopLeaderOnly) signalLeader(signal);
    else signalGroup(pid, signal);
  };
  let hurried: () => void = () => {};
  const hurry = new Promise<"hurry">((resolve) => {
    hurried = () => resolve("hurry");
  });
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      send(stopSignal);
      const done = exited.then(() => "exited" as const);
      let outcome = await Promise.race([
        done,
        sleep(opts.stopTimeoutMs ?? 3000).then(() => "timeout" as const),
        ...(opts.stopRepeatable ? [hurry] : []),
      ]);
      if (outcome !== "exited" && opts.stopRepeatable) {
        send(stopSignal);
        outcome = await Promise.race([done, sleep(1500).then(() => "timeout" as const)]);
      }
      if (outcome !== "exited" && pid !== undefined) {
        log(`did not stop in time: SIGKILL`);
        signalGroup(pid, "SIGKILL");
        await exited;
      }
      await ended;
    })();
    return stopping;
  };
  function signalLeader(signal: NodeJS.Signals) {
    if (!running()) return;
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
  async function kill() {
    if (pid === undefined || !running()) return;
    signalGroup(pid, "SIGKILL");
    await exited;
    await ended;
  }
  // However the leader ends, what is left of its group (ffmpeg, workerd) goes with it.
  const ended = exited.then(async () => {
    if (pid !== undefined) await sweepGroup(pid);
    supervisor.remove(group);
  });
  const group: Group = {
    name,
    pgid: pid ?? 0,
    first: opts.stopFirst ?? false,
    stopSignal,
    leaderOnly: opts.stopLeaderOnly ?? false,
    repeatable: opts.stopRepeatable ?? false,
    stop,
    hurry: () => hurried(),
  };
  if (pid !== undefined) supervisor.add(group);
  return { name, child, exited, stop, signal: signalLeader, kill };
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
