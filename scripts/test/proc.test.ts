/**
 * The process supervision under every stack (scripts/stack/proc.ts + supervisor.ts), with shell scripts
 * standing in for the services: groups end whole, stop order and signals are kept, and a supervisor that
 * is SIGKILLed still gets its children stopped (cleanly) by its watchdog.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { type Managed, spawnManaged } from "../stack/proc.ts";
import { groupMembers, Supervisor } from "../stack/supervisor.ts";

const dir = mkdtempSync(path.join(os.tmpdir(), "streamlet-proc-test-"));
const started: Managed[] = [];
const quiet = { log: () => {} };

afterAll(async () => {
  await Promise.all(started.map((m) => m.kill()));
  rmSync(dir, { recursive: true, force: true });
});

function manage(
  supervisor: Supervisor,
  name: string,
  script: string,
  opts: Parameters<typeof spawnManaged>[3] = {},
) {
  const m = spawnManaged(name, "bash", ["-c", script], { ...quiet, ...opts, supervisor });
  started.push(m);
  return m;
}

async function until(check: () => boolean, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await sleep(20);
  }
}

const members = (m: Managed) => groupMembers(m.child.pid as number);
const read = (file: string) => {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
};

describe("spawnManaged", () => {
  it("stop() ends the whole process group, grandchildren included", async () => {
    const m = manage(new Supervisor(), "tree", "sleep 300 & bash -c 'sleep 300 & wait' & wait");
    await until(() => members(m).length >= 4);
    await m.stop();
    expect(members(m)).toEqual([]);
  });

  it("a leader that exits on its own takes what is left of its group with it", async () => {
    const m = manage(new Supervisor(), "orphans", "sleep 300 & sleep 0.3; exit 0");
    await until(() => members(m).length === 3);
    await m.exited;
    await until(() => members(m).length === 0);
  });

  it("SIGKILLs a group that ignores its stop signal once the timeout passes", async () => {
    const m = manage(new Supervisor(), "stubborn", "trap '' TERM; sleep 300 & wait; wait", {
      stopTimeoutMs: 300,
    });
    await until(() => members(m).length === 2);
    const t0 = Date.now();
    await m.stop();
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(members(m)).toEqual([]);
  });

  it("a leader-only stop signal reaches the leader alone; hurry() sends it again", async () => {
    const log = path.join(dir, "hurry.log");
    // Like the transcoder: the first TERM starts a drain, the second hands back and exits.
    const script = `n=0; trap 'n=$((n+1)); echo "term $n" >> ${log}; [ $n -ge 2 ] && exit 0' TERM
      sleep 300 & child=$!; echo "child $child" >> ${log}; while kill -0 $child 2>/dev/null; do sleep 0.05; done`;
    const supervisor = new Supervisor();
    const m = manage(supervisor, "drainer", script, {
      stopLeaderOnly: true,
      stopRepeatable: true,
      stopTimeoutMs: 30_000,
    });
    await until(() => read(log).includes("child "));
    const child = Number(/child (\d+)/.exec(read(log))?.[1]);
    const stopped = m.stop();
    await until(() => read(log).includes("term 1"));
    expect(members(m)).toContain(child); // its child (ffmpeg, say) was not signalled
    const t0 = Date.now();
    supervisor.hurry(); // a second Ctrl-C
    await stopped;
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(readFileSync(log, "utf8")).toContain("term 2");
    expect(members(m)).toEqual([]);
  });

  it("stopAll() stops the first tier before the others and refuses new children", async () => {
    const log = path.join(dir, "order.log");
    const supervisor = new Supervisor();
    const first = manage(
      supervisor,
      "first",
      `trap 'sleep 0.4; echo first-done >> ${log}; exit 0' TERM; sleep 300 & wait`,
      {
        stopFirst: true,
      },
    );
    const other = manage(
      supervisor,
      "other",
      `trap 'echo other-stopping >> ${log}; exit 0' INT; sleep 300 & wait`,
      {
        stopSignal: "SIGINT",
      },
    );
    await until(() => members(first).length === 2 && members(other).length === 2);
    await supervisor.stopAll();
    expect(readFileSync(log, "utf8").trim().split("\n")).toEqual(["first-done", "other-stopping"]);
    expect([...members(first), ...members(other)]).toEqual([]);
    expect(() => manage(supervisor, "late", "sleep 1")).toThrow(/stopping/);
  });
});

describe("the watchdog", () => {
  it("stops every group with its own stop signal when the supervising process is SIGKILLed", async () => {
    const log = path.join(dir, "watchdog.log");
    const proc = path.resolve(import.meta.dirname, "../stack/proc.ts");
    // A supervisor in its own process: a "postgres" that wants SIGINT, with a child, and a plain service.
    const program = `
      import { spawnManaged } from ${JSON.stringify(proc)};
      const pg = spawnManaged("pg", "bash", ["-c", "trap 'echo pg-got-INT >> ${log}; exit 0' INT; sleep 300 & wait"],
        { stopSignal: "SIGINT", stopLeaderOnly: true, log: () => {} });
      const svc = spawnManaged("svc", "bash", ["-c", "sleep 300 & sleep 300 & wait"], { log: () => {} });
      console.log(JSON.stringify([pg.child.pid, svc.child.pid]));
      setInterval(() => {}, 1000);
    `;
    const supervisor = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", program], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const pgids = await new Promise<number[]>((resolve, reject) => {
      supervisor.stdout.once("data", (d: Buffer) => resolve(JSON.parse(d.toString())));
      supervisor.once("exit", (code) => reject(new Error(`supervisor exited with ${code}`)));
    });
    await until(() => pgids.every((g) => groupMembers(g).length === 2 || groupMembers(g).length === 3));
    supervisor.kill("SIGKILL");
    await until(() => pgids.every((g) => groupMembers(g).length === 0), 8000);
    expect(readFileSync(log, "utf8")).toContain("pg-got-INT");
  }, 15_000);
});
