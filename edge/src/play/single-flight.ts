/**
 * Origin offload for /v1/play: concurrent cache misses for the same asset read storage once.
 *
 * Scope, plainly: this works within ONE isolate. Every request that misses caches.default for a key while
 * another request of the same isolate is already reading that key from storage waits for that read and
 * gets its own copy of the bytes. Other isolates (other machines of the data centre, or a second isolate
 * on the same machine) each do their own first read: nothing here is shared between isolates.
 * What Cloudflare offers beyond that, as documented (not measured here):
 * - caches.default is per data centre and not replicated; `cache.put` does not take part in Tiered Cache
 *   (Cloudflare's Cache API page: use fetch() for tiered caching).
 * - Collapsing of concurrent misses for one URL in a data centre (Cloudflare's cache lock, "Concurrent
 *   Streaming Acceleration") applies to requests that go through Cloudflare's HTTP cache (a proxied zone,
 *   or a Worker's fetch() of a cacheable URL), not to cache.match/cache.put. Our storage reads are signed
 *   fetches that do not go through that cache, so that collapsing does not apply to them today.
 * So the bound is: storage GETs per object per data centre <= the number of isolates that miss it at once,
 * instead of the number of viewers that miss it at once.
 *
 * Memory: a shared read is buffered whole (the waiters live in other requests, and workerd forbids one
 * request from reading another request's stream: "Cannot perform I/O on behalf of a different request"),
 * so the isolate holds one copy of each object being read, at most `maxSharedBytes` (segments are at most
 * ~10 MB), and each waiter streams slices of it (a chunk at a time, never a copy of the whole). A larger
 * or unknown-size object that grows past the limit is not shared: waiters read it themselves. The buffer
 * is released once the cache has it (or the read failed) and the waiters have streamed it.
 */

/** How long a waiter waits for another request's storage read before giving up (503 for the viewer). */
export const DEFAULT_FLIGHT_TIMEOUT_MS = 15_000;
/** The largest object buffered for waiters; HLS segments are at most ~10 MB. */
export const DEFAULT_MAX_SHARED_BYTES = 16 * 1024 ** 2;

export interface FillOptions {
  /** Where the complete response is stored (caches.default). */
  cache: Pick<Cache, "put">;
  /** Keeps the cache write going after the first request's response is returned (ctx.waitUntil). */
  waitUntil: (promise: Promise<unknown>) => void;
  /** false: every miss reads storage itself (ORIGIN_COALESCING=off, the benchmark's baseline). */
  coalesce?: boolean;
  timeoutMs?: number;
  maxSharedBytes?: number;
}

/** Thrown to a waiter whose shared storage read did not finish in time; the caller answers 503. */
export class OriginTimeoutError extends Error {
  override name = "OriginTimeoutError";
}

/** What one storage read hands to the requests that waited for it. */
type Shared =
  | { kind: "missing" }
  | { kind: "bytes"; status: number; headers: [string, string][]; bytes: Uint8Array | null }
  /** Too large to buffer: each waiter reads storage itself. */
  | { kind: "unshared" };

interface Flight {
  shared: Promise<Shared>;
  deadline: number;
  settled: boolean;
}

// Per isolate (module scope): keyed by the cache key's URL, which names the asset and its cache generation.
const flights = new Map<string, Flight>();

/** In-flight storage reads in this isolate (tests). */
export function inFlight(): number {
  return flights.size;
}

/**
 * Answers a cache miss: the first miss for `cacheKey` in this isolate calls `load` (the storage read,
 * giving the complete 200 to cache, or null when the object is missing) and stores the result in the
 * cache; concurrent misses for the same key wait for that read and each get their own Response with the
 * same status, headers and bytes (or null, or the same error). The entry is dropped once the read has
 * settled and the cache has the copy, so a later miss after a failure reads storage again.
 */
export async function fillOnce(
  cacheKey: Request,
  load: () => Promise<Response | null>,
  options: FillOptions,
): Promise<Response | null> {
  if (options.coalesce === false) return stream(cacheKey, await load(), options);
  const key = cacheKey.url;
  const flight = flights.get(key);
  // A read still unsettled past its deadline (storage hung) is abandoned: this miss starts a fresh one.
  if (flight && (flight.settled || Date.now() < flight.deadline)) {
    return join(key, flight, cacheKey, load, options);
  }
  return lead(key, cacheKey, load, options);
}

async function lead(
  key: string,
  cacheKey: Request,
  load: () => Promise<Response | null>,
  options: FillOptions,
): Promise<Response | null> {
  let resolve: (shared: Shared) => void = () => {};
  let reject: (error: unknown) => void = () => {};
  const shared = new Promise<Shared>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  shared.catch(() => {}); // nobody may be waiting
  const deadline = Date.now() + (options.timeoutMs ?? DEFAULT_FLIGHT_TIMEOUT_MS);
  const flight: Flight = { shared, deadline, settled: false };
  const settle = (value: Shared) => {
    flight.settled = true;
    resolve(value);
  };
  const fail = (error: unknown) => {
    flight.settled = true;
    reject(error);
  };
  flights.set(key, flight);
  const drop = () => {
    if (flights.get(key) === flight) flights.delete(key);
  };

  let response: Response | null;
  try {
    response = await load();
  } catch (error) {
    fail(error);
    drop();
    throw error;
  }
  if (response === null) {
    settle({ kind: "missing" });
    drop();
    return null;
  }
  const max = options.maxSharedBytes ?? DEFAULT_MAX_SHARED_BYTES;
  const declared = Number(response.headers.get("content-length") ?? Number.NaN);
  if (response.body === null || declared > max) {
    settle(response.body === null ? snapshot(response, null) : { kind: "unshared" });
    drop();
    return stream(cacheKey, response, options);
  }

  // One branch to this viewer as it arrives; the other buffered for the waiters and the cache.
  const [mine, buffered] = response.body.tee();
  options.waitUntil(
    readAll(buffered, max)
      .then(async (bytes) => {
        if (bytes === null) {
          // Grew past the limit: not shared, not cached by us (a later miss streams it into the cache).
          settle({ kind: "unshared" });
          return;
        }
        const copy = snapshot(response, bytes);
        settle(copy);
        await options.cache
          .put(cacheKey, toResponse(copy))
          .catch((error: unknown) => console.error(`play: cache.put ${key} failed:`, error));
      })
      .catch((error: unknown) => fail(error))
      .finally(drop),
  );
  return new Response(mine, { status: response.status, headers: response.headers });
}

async function join(
  key: string,
  flight: Flight,
  cacheKey: Request,
  load: () => Promise<Response | null>,
  options: FillOptions,
): Promise<Response | null> {
  // The timer lives in this request, so a stuck or cancelled first request cannot pin this one.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => {
        // A later miss starts a fresh read instead of joining this one.
        if (flights.get(key) === flight) flights.delete(key);
        reject(new OriginTimeoutError(`storage read of ${key} took longer than the flight's deadline`));
      },
      Math.max(0, flight.deadline - Date.now()),
    );
  });
  try {
    const shared = await Promise.race([flight.shared, timeout]);
    if (shared.kind === "missing") return null;
    if (shared.kind === "bytes") return waiterResponse(shared);
  } finally {
    clearTimeout(timer);
  }
  return stream(cacheKey, await load(), options);
}

/** The uncoalesced path: this request's own read, streamed to the viewer and into the cache. */
function stream(cacheKey: Request, response: Response | null, options: FillOptions): Response | null {
  if (response === null || response.body === null) return response;
  const [mine, cached] = response.body.tee();
  options.waitUntil(
    options.cache
      .put(cacheKey, new Response(cached, { status: response.status, headers: response.headers }))
      .catch((error: unknown) => console.error(`play: cache.put ${cacheKey.url} failed:`, error)),
  );
  return new Response(mine, { status: response.status, headers: response.headers });
}

type SharedBytes = Extract<Shared, { kind: "bytes" }>;

function snapshot(response: Response, bytes: Uint8Array | null): SharedBytes {
  return { kind: "bytes", status: response.status, headers: [...response.headers], bytes };
}

/** The cache's copy: one Response over the buffer itself. */
function toResponse(shared: SharedBytes): Response {
  return new Response(shared.bytes, { status: shared.status, headers: new Headers(shared.headers) });
}

/**
 * A waiter's copy: a stream of slices of the shared buffer, copied a chunk at a time as the viewer reads.
 * new Response(bytes) would copy the whole object per waiter (100 waiters of a 2 MB segment: 200 MB in an
 * isolate limited to 128 MB); this way the isolate holds the buffer once plus a chunk or two per viewer.
 */
function waiterResponse(shared: SharedBytes): Response {
  const headers = new Headers(shared.headers);
  const bytes = shared.bytes;
  if (bytes === null) return new Response(null, { status: shared.status, headers });
  let offset = 0;
  const chunks = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.byteLength) {
        controller.close();
        return;
      }
      const end = Math.min(offset + CHUNK_BYTES, bytes.byteLength);
      controller.enqueue(bytes.slice(offset, end));
      offset = end;
    },
  });
  return new Response(withLength(chunks, bytes.byteLength), { status: shared.status, headers });
}

const CHUNK_BYTES = 64 * 1024;

/**
 * Gives a JS-produced stream a known length: workerd's FixedLengthStream makes the response carry
 * Content-Length instead of chunked encoding; elsewhere (Node tests) the stream is returned as is.
 */
function withLength(stream: ReadableStream<Uint8Array>, length: number): ReadableStream<Uint8Array> {
  const Fixed = (globalThis as { FixedLengthStream?: typeof FixedLengthStream }).FixedLengthStream;
  if (Fixed === undefined) return stream;
  const fixed = new Fixed(length);
  stream
    .pipeTo(fixed.writable)
    .catch((error: unknown) => console.error("play: waiter stream failed:", error));
  return fixed.readable;
}

/** The whole stream as one array, or null (the stream cancelled) once it grows past `max` bytes. */
async function readAll(stream: ReadableStream<Uint8Array>, max: number): Promise<Uint8Array | null> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      // Not awaited: cancelling one branch of a tee settles only once the other branch is done too.
      reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}
