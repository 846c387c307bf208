import { afterEach, describe, expect, it } from "vitest";
import { Flights, fillOnce, inFlight, OriginTimeoutError } from "../src/play/single-flight.ts";

const SEGMENT = new Uint8Array(300_000).map((_, i) => (i * 7) % 251);

/** A storage response that streams `bytes` in chunks, yielding between them like a network read. */
function storageResponse(bytes: Uint8Array, opts: { failAfter?: number; length?: boolean } = {}) {
  let offset = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      await new Promise((r) => setTimeout(r, 1));
      if (opts.failAfter !== undefined && offset >= opts.failAfter) {
        controller.error(new Error("connection reset"));
        return;
      }
      if (offset >= bytes.byteLength) {
        controller.close();
        return;
      }
      controller.enqueue(bytes.slice(offset, offset + 64 * 1024));
      offset += 64 * 1024;
    },
  });
  const headers = new Headers({ "content-type": "video/iso.segment", etag: '"abc"' });
  if (opts.length !== false) headers.set("content-length", String(bytes.byteLength));
  return new Response(body, { status: 200, headers });
}

/** A fake cache and waitUntil that record what the module does. */
function harness() {
  const puts: { url: string; bytes: Uint8Array }[] = [];
  const pending: Promise<unknown>[] = [];
  return {
    puts,
    cache: {
      async put(key: RequestInfo | URL, response: Response) {
        const url = key instanceof Request ? key.url : String(key);
        puts.push({ url, bytes: new Uint8Array(await response.arrayBuffer()) });
      },
    },
    waitUntil: (promise: Promise<unknown>) => {
      pending.push(promise);
    },
    settled: () => Promise.allSettled(pending),
  };
}

/** A cache key no other test uses (the in-flight map is per module, like per isolate). */
const newKey = () =>
  new Request(`https://cache.streamlet.internal/v1/play/${crypto.randomUUID()}/g1/720p/seg_1.m4s`);

/** Byte equality without vitest's element-by-element diffing (slow on 300 kB arrays). */
function same(a: Uint8Array | undefined, b: Uint8Array) {
  return a !== undefined && a.byteLength === b.byteLength && a.every((x, i) => x === b[i]);
}

async function bodyOf(response: Response | null) {
  expect(response).not.toBeNull();
  return new Uint8Array(await (response as Response).arrayBuffer());
}

/** A storage read that counts its calls and answers after a network-like pause (a fresh body each). */
function countedLoad(make: () => Response = () => storageResponse(SEGMENT)) {
  let calls = 0;
  const load = async () => {
    calls += 1;
    await new Promise((r) => setTimeout(r, 5));
    return make();
  };
  return { load, calls: () => calls };
}

afterEach(() => {
  expect(inFlight()).toBe(0);
});

describe("fillOnce", () => {
  it("reads storage once for concurrent misses; every caller gets the whole body and headers", async () => {
    const h = harness();
    const key = newKey();
    const counted = countedLoad();
    const load = counted.load;
    const responses = await Promise.all(
      Array.from({ length: 50 }, () => fillOnce(key, load, { cache: h.cache, waitUntil: h.waitUntil })),
    );
    const bodies = await Promise.all(responses.map(bodyOf));
    expect(counted.calls()).toBe(1);
    for (const [i, body] of bodies.entries()) {
      expect(same(body, SEGMENT), `caller ${i}`).toBe(true);
      expect(responses[i]?.headers.get("etag")).toBe('"abc"');
      expect(responses[i]?.headers.get("content-length")).toBe(String(SEGMENT.byteLength));
    }
    await h.settled();
    expect(h.puts).toHaveLength(1);
    expect(h.puts[0]?.url).toBe(key.url);
    expect(same(h.puts[0]?.bytes, SEGMENT)).toBe(true);
  });

  it("gives every waiter the storage error, then lets the next miss read again", async () => {
    const h = harness();
    const key = newKey();
    let loads = 0;
    const failing = async () => {
      loads += 1;
      await new Promise((r) => setTimeout(r, 5));
      throw new Error("storage GET failed: 500");
    };
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => fillOnce(key, failing, { cache: h.cache, waitUntil: h.waitUntil })),
    );
    expect(loads).toBe(1);
    for (const r of results) {
      expect(r.status).toBe("rejected");
      expect((r as PromiseRejectedResult).reason.message).toBe("storage GET failed: 500");
    }
    expect(inFlight()).toBe(0);
    const retried = await fillOnce(key, async () => storageResponse(SEGMENT), h);
    expect(same(await bodyOf(retried), SEGMENT)).toBe(true);
    await h.settled();
  });

  it("propagates a body that fails mid-read to every waiter and drops the entry", async () => {
    const h = harness();
    const key = newKey();
    const load = async () => storageResponse(SEGMENT, { failAfter: 128 * 1024 });
    const calls = Array.from({ length: 5 }, () => fillOnce(key, load, h));
    for (const result of await Promise.allSettled(calls)) {
      expect(result.status).toBe("rejected");
      expect(String((result as PromiseRejectedResult).reason)).toContain("connection reset");
    }
    await h.settled();
    expect(h.puts).toHaveLength(0);
  });

  it("shares a missing object (null) and reads again on the next miss", async () => {
    const h = harness();
    const key = newKey();
    let loads = 0;
    const missing = async () => {
      loads += 1;
      await new Promise((r) => setTimeout(r, 5));
      return null;
    };
    const results = await Promise.all(Array.from({ length: 5 }, () => fillOnce(key, missing, h)));
    expect(results).toEqual([null, null, null, null, null]);
    expect(loads).toBe(1);
    await fillOnce(key, missing, h);
    expect(loads).toBe(2);
  });

  it("releases waiters of a hung read after the timeout; the next miss starts a fresh read", async () => {
    const h = harness();
    const key = newKey();
    let release: (r: Response) => void = () => {};
    const hung = () =>
      new Promise<Response>((resolve) => {
        release = resolve;
      });
    const leader = fillOnce(key, hung, { ...h, timeoutMs: 50 });
    const started = Date.now();
    const waiters = Array.from({ length: 3 }, () => fillOnce(key, hung, { ...h, timeoutMs: 50 }));
    // Settled together: awaited one by one, a waiter rejecting before its turn is an unhandled rejection.
    for (const result of await Promise.allSettled(waiters)) {
      expect(result.status).toBe("rejected");
      expect((result as PromiseRejectedResult).reason).toBeInstanceOf(OriginTimeoutError);
    }
    expect(Date.now() - started).toBeLessThan(1000);
    expect(inFlight()).toBe(0);

    let loads = 0;
    const fresh = await fillOnce(
      key,
      async () => {
        loads += 1;
        return storageResponse(SEGMENT);
      },
      h,
    );
    expect(loads).toBe(1);
    expect(same(await bodyOf(fresh), SEGMENT)).toBe(true);
    // The hung read finishing late still serves its own viewer and does not disturb later flights.
    release(storageResponse(SEGMENT));
    expect(same(await bodyOf(await leader), SEGMENT)).toBe(true);
    await h.settled();
  });

  it("does not buffer objects above maxSharedBytes: waiters read storage themselves", async () => {
    const h = harness();
    const key = newKey();
    const counted = countedLoad();
    const load = counted.load;
    const responses = await Promise.all(
      Array.from({ length: 4 }, () => fillOnce(key, load, { ...h, maxSharedBytes: 100_000 })),
    );
    for (const response of responses) expect(same(await bodyOf(response), SEGMENT)).toBe(true);
    expect(counted.calls()).toBe(4);
    await h.settled();
  });

  it("stops buffering a body of unknown size once it passes maxSharedBytes", async () => {
    const h = harness();
    const key = newKey();
    const counted = countedLoad(() => storageResponse(SEGMENT, { length: false }));
    const load = counted.load;
    const responses = await Promise.all(
      Array.from({ length: 3 }, () => fillOnce(key, load, { ...h, maxSharedBytes: 100_000 })),
    );
    for (const response of responses) expect(same(await bodyOf(response), SEGMENT)).toBe(true);
    expect(counted.calls()).toBe(3);
    await h.settled();
  });

  it("reads storage per miss when coalescing is off (the baseline)", async () => {
    const h = harness();
    const key = newKey();
    let loads = 0;
    const load = async () => {
      loads += 1;
      return storageResponse(SEGMENT);
    };
    const responses = await Promise.all(
      Array.from({ length: 5 }, () => fillOnce(key, load, { ...h, coalesce: false })),
    );
    for (const response of responses) expect(same(await bodyOf(response), SEGMENT)).toBe(true);
    expect(loads).toBe(5);
    await h.settled();
    expect(h.puts).toHaveLength(5);
  });
});

describe("Flights (the origin shield's scope)", () => {
  it("shares a read without keeping anything when nothing keeps it", async () => {
    const flights = new Flights();
    const h = harness();
    const counted = countedLoad();
    const load = counted.load;
    const responses = await Promise.all(
      Array.from({ length: 8 }, () => flights.share("videos/v/720p/seg_00001.m4s", load, h)),
    );
    for (const response of responses) expect(same(await bodyOf(response), SEGMENT)).toBe(true);
    expect(counted.calls()).toBe(1);
    await h.settled();
    expect(flights.size).toBe(0);
  });

  it("buffers at most maxBufferedBytes across objects: past it, waiters read for themselves", async () => {
    // Room for one 300 kB object: the first key is shared, the second (read at the same time) is not.
    const flights = new Flights(400_000);
    const h = harness();
    const loads = new Map<string, number>();
    const loader = (key: string) => async () => {
      loads.set(key, (loads.get(key) ?? 0) + 1);
      await new Promise((r) => setTimeout(r, 5));
      return storageResponse(SEGMENT);
    };
    // "a" arrives slowly (its first chunk, then a pause), so its buffer is held while "b" is read.
    let resume: () => void = () => {};
    const paused = new Promise<void>((r) => {
      resume = r;
    });
    const slowA = async () => {
      loads.set("a", (loads.get("a") ?? 0) + 1);
      let sent = false;
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (!sent) {
            controller.enqueue(SEGMENT.slice(0, 64 * 1024));
            sent = true;
            return;
          }
          await paused;
          controller.enqueue(SEGMENT.slice(64 * 1024));
          controller.close();
        },
      });
      const headers = { "content-length": String(SEGMENT.byteLength) };
      return new Response(body, { status: 200, headers });
    };
    const first = flights.share("a", slowA, h);
    await new Promise((r) => setTimeout(r, 10));
    const rest = [
      ...Array.from({ length: 3 }, () => flights.share("a", slowA, h)),
      ...Array.from({ length: 3 }, () => flights.share("b", loader("b"), h)),
    ];
    const bs = await Promise.all(rest.slice(3));
    for (const response of bs) expect(same(await bodyOf(response), SEGMENT)).toBe(true);
    resume();
    for (const response of await Promise.all([first, ...rest.slice(0, 3)]))
      expect(same(await bodyOf(response), SEGMENT)).toBe(true);
    expect(loads.get("a")).toBe(1);
    expect(loads.get("b")).toBe(3);
    await h.settled();
    // The budget is given back: the next burst of "b" is shared again.
    loads.clear();
    const again = await Promise.all(Array.from({ length: 3 }, () => flights.share("b", loader("b"), h)));
    for (const response of again) expect(same(await bodyOf(response), SEGMENT)).toBe(true);
    expect(loads.get("b")).toBe(1);
    await h.settled();
  });
});
