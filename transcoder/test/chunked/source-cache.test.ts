import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSourceCache } from "../../src/chunked/source-cache.ts";
import { createLogger } from "../../src/log.ts";
import type { Storage } from "../../src/storage.ts";
import { testId } from "../helpers/ids.ts";

const log = createLogger({}, () => {});

/** A storage whose downloads write `body` after a pause, or half of it and then fail. */
function fakeStorage(body = "the whole source") {
  const calls: string[] = [];
  let failNext = false;
  const storage: Pick<Storage, "download"> = {
    async download(key, filePath, signal) {
      calls.push(key);
      await sleep(50, undefined, { signal });
      if (failNext) {
        failNext = false;
        await writeFile(filePath, body.slice(0, 5));
        throw new Error("connection reset");
      }
      await writeFile(filePath, body);
      return body.length;
    },
  };
  return { storage, calls, failOnce: () => (failNext = true) };
}

describe("source cache", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "streamlet-sources-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("downloads once for concurrent users and serves the file after", async () => {
    const fake = fakeStorage();
    const cache = createSourceCache({ storage: fake.storage, workDir: dir, log, sweepEveryMs: 0 });
    const id = testId("sc1");
    const leases = await Promise.all([1, 2, 3].map(() => cache.acquire(id)));
    expect(fake.calls).toHaveLength(1);
    expect(new Set(leases.map((l) => l.path)).size).toBe(1);
    expect(await readFile(leases[0]?.path as string, "utf8")).toBe("the whole source");
    for (const l of leases) l.release();
    // A later user finds it on disk.
    const again = await cache.acquire(id);
    expect(fake.calls).toHaveLength(1);
    again.release();
  });

  it("discards a video's source at once when nobody holds it, else when its last holder lets go", async () => {
    const fake = fakeStorage();
    const cache = createSourceCache({ storage: fake.storage, workDir: dir, log, sweepEveryMs: 0 });
    // Not held: gone at once.
    const free = testId("sc-discard-free");
    const lease = await cache.acquire(free);
    lease.release();
    expect(existsSync(lease.path)).toBe(true);
    await cache.discard(free);
    expect(existsSync(lease.path)).toBe(false);
    // Held twice: stays until both let go, then goes; a later user downloads it again.
    const held = testId("sc-discard-held");
    const [a, b] = await Promise.all([cache.acquire(held), cache.acquire(held)]);
    await cache.discard(held);
    a?.release();
    await sleep(20);
    expect(existsSync(a?.path as string)).toBe(true);
    b?.release();
    await sleep(20);
    expect(existsSync(a?.path as string)).toBe(false);
    const calls = fake.calls.length;
    (await cache.acquire(held)).release();
    expect(fake.calls).toHaveLength(calls + 1);
    await cache.discard("not an id"); // ignored
  });

  it("never keeps a failed download's partial file as a hit", async () => {
    const fake = fakeStorage();
    const cache = createSourceCache({ storage: fake.storage, workDir: dir, log, sweepEveryMs: 0 });
    const id = testId("sc2");
    fake.failOnce();
    const results = await Promise.allSettled([cache.acquire(id), cache.acquire(id)]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    expect((await readdir(join(dir, "sources"))).filter((f) => f.startsWith(id))).toEqual([]);
    const lease = await cache.acquire(id);
    expect(fake.calls).toHaveLength(2);
    expect(await readFile(lease.path, "utf8")).toBe("the whole source");
    lease.release();
  });

  it("one caller's abort leaves the shared download to the others; all aborting stops it", async () => {
    const fake = fakeStorage();
    const cache = createSourceCache({ storage: fake.storage, workDir: dir, log, sweepEveryMs: 0 });
    const id = testId("sc3");
    const quitter = new AbortController();
    const first = cache.acquire(id, quitter.signal);
    const second = cache.acquire(id);
    quitter.abort(new Error("shutdown"));
    await expect(first).rejects.toThrow("shutdown");
    const lease = await second;
    expect(await readFile(lease.path, "utf8")).toBe("the whole source");
    lease.release();

    const id2 = testId("sc3b");
    const all = new AbortController();
    const both = [cache.acquire(id2, all.signal), cache.acquire(id2, all.signal)];
    all.abort(new Error("gone"));
    for (const p of both) await expect(p).rejects.toThrow("gone");
    await sleep(100);
    expect((await readdir(join(dir, "sources"))).filter((f) => f.startsWith(id2))).toEqual([]);
  });

  it("sweeps idle sources and stray partials, never held ones", async () => {
    const fake = fakeStorage();
    const cache = createSourceCache({ storage: fake.storage, workDir: dir, log, idleMs: 0, sweepEveryMs: 0 });
    const held = await cache.acquire(testId("sc4"));
    const idle = await cache.acquire(testId("sc5"));
    idle.release();
    await writeFile(join(dir, "sources", `${testId("sc6")}.abc.part`), "left by a dead process");
    await sleep(5);
    await cache.sweep();
    const left = await readdir(join(dir, "sources"));
    expect(left).toContain(testId("sc4"));
    expect(left).not.toContain(testId("sc5"));
    expect(left.filter((f) => f.endsWith(".part"))).toEqual([]);
    held.release();
    cache.close();
  });
});
