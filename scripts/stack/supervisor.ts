import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import type { Socket } from "node:net";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * Clean-up for everything a stack starts. Each service runs in its own process group (its children and
 * grandchildren, such as wrangler's workerd or the transcoder's ffmpeg, share it) and is stopped by group:
 *  - stopAll(): transcoders first (they need Redis and the edge to hand running jobs back), then the rest
 *    in parallel, each with its stop signal, SIGKILL for what is left after a deadline;
 *  - if this process dies without stopping them (SIGKILL, a crash, tsx's wrapper killing it), a watchdog
 *    (a tiny shell script whose stdin is a pipe from here) sees the pipe close and does the same.
 * Postgres gets SIGINT (a fast, clean shutdown) on both paths, so its data folder is never left locked.
 */

/** One process group as the supervisor stops it. */
export interface Group {
  name: string;
  /** The leader's pid, which is also the group id. */
  pgid: number;
  /** Stopped before all others (the transcoders). */
  first: boolean;
  /** The signal that asks it to stop, and whether it goes to the leader only or to the whole group. */
  stopSignal: NodeJS.Signals;
  leaderOnly: boolean;
  /** A second stop signal means "faster" (the transcoder: hand running jobs back now). */
  repeatable: boolean;
  stop(): Promise<void>;
  /** Asks a group being stopped to hurry (a second Ctrl-C). */
  hurry(): void;
}

// Lines on stdin: "add <pgid> <tier> <leader|group> <SIGNAL> <repeatable 0|1>" and "del <pgid>".
// When stdin closes, the supervisor is gone: stop tier 0, then tier 1 (up to 4 s each), SIGKILL the rest.
// As in the supervisor, a group whose leader has exited loses its other members at once.
const WATCHDOG = String.raw`
trap '' INT HUP PIPE
list=""
while read -r op pg rest; do
  case "$op" in
    add) list="$list
$pg $rest" ;;
    del) list=$(printf '%s\n' "$list" | grep -v "^$pg ") ;;
  esac
done
[ -z "$(printf '%s' "$list" | tr -d '[:space:]')" ] && exit 0
echo "streamlet: supervisor gone; stopping what it started" >&2
procfs=0; [ -r /proc/self/stat ] && procfs=1
state() { sed -n 's/.*) \([A-Za-z]\) .*/\1/p' "/proc/$1/stat" 2>/dev/null; }
running() { if [ $procfs = 1 ]; then s=$(state "$1"); [ -n "$s" ] && [ "$s" != Z ] && [ "$s" != X ]; else kill -0 "$1" 2>/dev/null; fi; }
groups() { cat /proc/[0-9]*/stat 2>/dev/null | awk '{ sub(/^.*\) /, ""); if ($1 != "Z" && $1 != "X") print $3 }'; }
signal_tier() {
  printf '%s\n' "$list" | while read -r pg tier scope sig repeat; do
    [ -n "$pg" ] && [ "$tier" = "$1" ] || continue
    [ "$2" = again ] && [ "$repeat" != 1 ] && continue
    if [ "$scope" = leader ]; then kill -s "$sig" "$pg"; else kill -s "$sig" -- "-$pg"; fi 2>/dev/null
  done
}
pending() {
  live=""; [ $procfs = 1 ] && live=$(groups)
  printf '%s\n' "$list" | while read -r pg tier _; do
    [ -n "$pg" ] && [ "$tier" = "$1" ] || continue
    running "$pg" || kill -s KILL -- "-$pg" 2>/dev/null
    if [ $procfs = 1 ]; then case " $live " in *[[:space:]]"$pg"[[:space:]]*) echo "$pg" ;; esac
    else kill -0 -- "-$pg" 2>/dev/null && echo "$pg"; fi
  done
}
stop_tier() {
  signal_tier "$1" first
  i=0
  while [ "$i" -lt 20 ] && [ -n "$(pending "$1")" ]; do
    [ "$i" = 2 ] && signal_tier "$1" again
    sleep 0.2
    i=$((i + 1))
  done
}
stop_tier 0
stop_tier 1
printf '%s\n' "$list" | while read -r pg _; do [ -n "$pg" ] && kill -s KILL -- "-$pg" 2>/dev/null; done
exit 0
`;

/** The process groups one stack started; stops them in order, and makes sure they die with this process. */
export class Supervisor {
  readonly #groups = new Set<Group>();
  #watchdog: ChildProcess | undefined;
  #stopped: Promise<void> | undefined;

  /** True once stopAll() began: nothing new may start. */
  get stopping() {
    return this.#stopped !== undefined;
  }

  /** Throws when the stack is stopping, so a start-up interrupted by Ctrl-C spawns nothing more. */
  assertOpen(name: string) {
    if (this.#stopped) throw new Error(`stopping: ${name} not started`);
  }

  add(group: Group) {
    this.#groups.add(group);
    const scope = group.leaderOnly ? "leader" : "group";
    const signal = group.stopSignal.replace(/^SIG/, "");
    this.#tell(`add ${group.pgid} ${group.first ? 0 : 1} ${scope} ${signal} ${group.repeatable ? 1 : 0}`);
  }

  remove(group: Group) {
    if (this.#groups.delete(group)) this.#tell(`del ${group.pgid}`);
  }

  /** Stops every group: the first tier, then the others in parallel. Idempotent. */
  stopAll(): Promise<void> {
    this.#stopped ??= (async () => {
      const all = [...this.#groups];
      await Promise.all(all.filter((g) => g.first).map((g) => g.stop().catch(() => {})));
      await Promise.all(all.filter((g) => !g.first).map((g) => g.stop().catch(() => {})));
    })();
    return this.#stopped;
  }

  /** A second Ctrl-C: running jobs are handed back now instead of after their grace period. */
  hurry() {
    for (const g of this.#groups) g.hurry();
  }

  /** A third Ctrl-C: SIGKILL every group at once. */
  killAll() {
    for (const g of this.#groups) signalGroup(g.pgid, "SIGKILL");
  }

  #tell(line: string) {
    if (!this.#watchdog) {
      // Its own session: a Ctrl-C on the terminal never reaches it; it lives exactly as long as the pipe.
      const w = spawn("bash", ["-c", WATCHDOG, "streamlet-watchdog"], {
        stdio: ["pipe", "ignore", "inherit"],
        detached: true,
      });
      w.on("error", (err) => process.stderr.write(`streamlet: watchdog failed to start: ${err.message}\n`));
      w.stdin?.on("error", () => {}); // it died: nothing to tell it any more
      w.unref();
      (w.stdin as Socket | null)?.unref();
      this.#watchdog = w;
    }
    this.#watchdog.stdin?.write(`${line}\n`);
  }
}

/** Sends a signal to a whole process group (falls back to the pid when the group is gone). */
export function signalGroup(pgid: number, signal: NodeJS.Signals) {
  try {
    process.kill(-pgid, signal);
  } catch {
    try {
      process.kill(pgid, signal);
    } catch {
      // already gone
    }
  }
}

/** Pids of the running (not zombie) processes in a group; zombies left to an init that never reaps don't count. */
export function groupMembers(pgid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    // No /proc (macOS): a signal 0 to the group tells whether anything is in it.
    try {
      process.kill(-pgid, 0);
      return [pgid];
    } catch {
      return [];
    }
  }
  const members: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(Number(entry));
    if (stat && stat.pgid === pgid && stat.state !== "Z" && stat.state !== "X") members.push(Number(entry));
  }
  return members;
}

/** The fields of /proc/<pid>/stat we use, or null when the process is gone. */
export function procStat(pid: number) {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  // "pid (comm) state ppid pgrp session ..."; comm may itself contain spaces and parentheses.
  const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { state: f[0] ?? "", ppid: Number(f[1]), pgid: Number(f[2]), startTime: Number(f[19]) };
}

/**
 * The wrappers that launched this process, nearest first: npm (`npm run`, `npx`), the `sh -c` npm runs a
 * script in, the tsx CLI. Empty without /proc.
 */
function launchers(): Array<{ pid: number; startTime: number }> {
  const out: Array<{ pid: number; startTime: number }> = [];
  let pid = process.ppid;
  while (pid > 1) {
    const stat = procStat(pid);
    if (!stat) break;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    } catch {
      break;
    }
    const exe = path.basename(argv[0] ?? "");
    const script = path.basename(argv[1] ?? "");
    const wrapper =
      /^(npm|npx|tsx)$/.test(exe) ||
      (/^(sh|dash|bash)$/.test(exe) && argv[1] === "-c") ||
      (/^node(js)?$/.test(exe) && /^(npm|npx|tsx|npm-cli\.js|npx-cli\.js|cli\.mjs)$/.test(script));
    if (!wrapper) break;
    out.push({ pid, startTime: stat.startTime });
    pid = stat.ppid;
  }
  return out;
}

function isRunning(p: { pid: number; startTime: number }) {
  const stat = procStat(p.pid);
  return !!stat && stat.state !== "Z" && stat.state !== "X" && stat.startTime === p.startTime;
}

/** SIGKILLs what is left in a group whose leader has exited, and waits until it is empty. */
export async function sweepGroup(pgid: number, waitMs = 2000) {
  if (groupMembers(pgid).length === 0) return;
  signalGroup(pgid, "SIGKILL");
  const deadline = Date.now() + waitMs;
  while (groupMembers(pgid).length > 0 && Date.now() < deadline) await sleep(50);
}

/**
 * Ctrl-C handling for a command that owns a supervisor (`npm run dev`, the demo), installed before
 * anything starts: the first SIGINT/SIGTERM/SIGHUP (or the parent going away) stops everything, then
 * `done` runs and the process exits; a second one (0.4 s or more later: npm and tsx relay the same Ctrl-C
 * within milliseconds) hands running jobs back at once; a third SIGKILLs everything.
 */
export function stopOnSignals(
  supervisor: Supervisor,
  opts: {
    say?: (msg: string) => void;
    done?: () => Promise<void> | void;
    /** The exit status after a stop (default 0); a function is asked at that moment. */
    exitCode?: number | (() => number);
  } = {},
) {
  const say = opts.say ?? ((msg: string) => process.stderr.write(`${msg}\n`));
  let count = 0;
  let last = 0;
  const handle = (why: string, exitCode?: number) => {
    if (count > 0 && Date.now() - last < 400) return;
    count += 1;
    last = Date.now();
    if (count === 1) {
      say(`\n${why}: stopping… (Ctrl-C again to hand running jobs back at once)`);
      supervisor
        .stopAll()
        .then(() => opts.done?.())
        .catch((err: Error) => say(`stopping failed: ${err.message}`))
        .finally(() => {
          const fallback = typeof opts.exitCode === "function" ? opts.exitCode() : (opts.exitCode ?? 0);
          process.exit(exitCode ?? fallback);
        });
    } else if (count === 2) {
      say(`${why} again: handing running jobs back now (once more to kill everything)`);
      supervisor.hurry();
    } else {
      say(`${why} again: killing everything`);
      supervisor.killAll();
      process.exit(130);
    }
  };
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => handle(signal));
  // The command ends when what launched it ends, signalled or not: `kill <npm's pid>` kills npm's
  // `sh -c` and leaves the tsx wrapper (and us) running under init, with no signal of our own.
  const parent = process.ppid;
  const wrappers = launchers();
  const watch = setInterval(() => {
    const gone = process.ppid !== parent || wrappers.some((w) => !isRunning(w));
    if (!gone) return;
    clearInterval(watch);
    handle("launcher gone");
  }, 1000).unref();
  return {
    /** True once a signal asked to stop (a start-up error after it is expected, not a failure). */
    get stopping() {
      return count > 0;
    },
    /** The same as a Ctrl-C: stop everything, run `done`, exit (with exitCode when this is the first stop). */
    stop: (why: string, exitCode?: number) => handle(why, exitCode),
  };
}
