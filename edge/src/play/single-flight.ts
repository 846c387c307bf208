/**
 * Origin offload for /v1/play: concurrent reads of one object share one storage read.
 *
 * `Flights` is the mechanism: within one scope (an isolate, or one Durable Object), the first read of a
 * key calls `load`; reads of the same key that arrive before it settles wait for it and each get a
 * Response of their own with the same status, headers and bytes (or null, or the same error).
 * It is used at two levels (play/routes.ts):
 * - per isolate (`fillOnce`, module scope): the viewers of one isolate that miss caches.default for an
 *   asset at once make one read, which also fills the cache;
 * - per data centre (play/origin-shield.ts): that one read goes to the OriginShield Durable Object of the
 *   video and the data centre, which makes the storage read. So several isolates (other machines of the
 *   data centre) missing the same object at once still reach storage once. Cloudflare's own collapsing of
 *   concurrent misses applies only to fetch() through its HTTP cache, which signed storage reads are not.
 *
 * Memory: a shared read is buffered whole before any caller gets a byte (the waiters live in other
 * requests, and workerd forbids one request from reading another request's stream: "Cannot perform I/O
 * on behalf of a different request"),
 * at most `maxSharedBytes` per object (segments are at most ~10 MB) and `maxBufferedBytes` in all (an
 * isolate or an object has 128 MB), and each caller streams slices of it (a chunk at a time, never a copy
 * of the whole). An object past either limit is not shared: waiters read it themselves. The buffer is
 * released once the read is kept (cached) or failed and the callers have streamed it.
 */

/** How long a waiter waits for another request's storage read before giving up (503 for the viewer). */
export const DEFAULT_FLIGHT_TIMEOUT_MS = 15_000;
/** The largest object buffered for waiters; HLS segments are at most ~10 MB. */
export const DEFAULT_MAX_SHARED_BYTES = 16 * 1024 ** 2;
/** What one scope buffers for waiters at once, all objects together (an isolate has 128 MB). */
export const DEFAULT_MAX_BUFFERED_BYTES = 48 * 1024 ** 2;

export interface ShareOptions {
  /** Keeps the buffering going after the first caller's response is returned (ctx.waitUntil). */
  waitUntil: (promise: Promise<unknown>) => void;
  /** Called once with the complete response (the cache write); none: nothing is kept. */
  keep?: (response: Response) => Promise<void>;
  timeoutMs?: number;
  maxSharedBytes?: number;
}

export interface FillOptions {
  /** Where the complete response is stored (caches.default). */
  cache: Pick<Cache, "put">;
  /** Keeps the cache write going after the first request's response is returned (ctx.waitUntil). */
  waitUntil: (promise: Promise<unknown>) => void;
  /** false: every miss reads itself (ORIGIN_COALESCING=off or shield; the benchmark's baselines). */
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

/** The reads in flight in one scope, by key. */
export class Flights {
  readonly #flights = new Map<string, Flight>();
  readonly #maxBufferedBytes: number;
  #buffered = 0;

  constructor(maxBufferedBytes = DEFAULT_MAX_BUFFERED_BYTES) {
    this.#maxBufferedBytes = maxBufferedBytes;
  }

  /** Reads in flight (tests). */
  get size(): number {
    return this.#flights.size;
  }

  /**
   * The first read of `key` calls `load` (giving the complete 200, or null when the object is missing);
   * concurrent reads of the same key wait for it. The entry is dropped once the read has settled and was
   * kept, so a later read after a failure loads again.
   */
  share(key: string, load: () => Promise<Response | null>, options: ShareOptions): Promise<Response | null> {
    const flight = this.#flights.get(key);
    // A read still unsettled past its deadline (storage hung) is abandoned: this one starts a fresh one.
    if (flight && (flight.settled || Date.now() < flight.deadline)) {
      return this.#join(key, flight, load, options);
    }
    return this.#lead(key, load, options);
  }

  async #lead(
    key: string,
    load: () => Promise<Response | null>,
    options: ShareOptions,
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
    this.#flights.set(key, flight);
    const drop = () => {
      if (this.#flights.get(key) === flight) this.#flights.delete(key);
    };
    let held = 0;
    const release = () => {
      this.#buffered -= held;
      held = 0;
    };

    try {
      const response = await load();
      if (response === null) {
        settle({ kind: "missing" });
        drop();
        return null;
      }
      const max = options.maxSharedBytes ?? DEFAULT_MAX_SHARED_BYTES;
      const declared = Number(response.headers.get("content-length") ?? Number.NaN);
      // A known length is reserved from the scope's budget up front; an unknown one as it arrives.
      const reserved = Number.isFinite(declared) ? declared : 0;
      if (response.body === null || declared > max || this.#buffered + reserved > this.#maxBufferedBytes) {
        settle(response.body === null ? snapshot(response, null) : { kind: "unshared" });
        drop();
        return passThrough(response, options);
      }
      held = reserved;
      this.#buffered += reserved;
      const take = (bytes: number) => {
        if (reserved > 0) return true;
        if (this.#buffered + bytes > this.#maxBufferedBytes) return false;
        held += bytes;
        this.#buffered += bytes;
        return true;
      };
      // The whole object is read before anyone, this caller included, gets a byte. A branch of a tee
      // streamed to this caller instead lets a slow first reader hold the read back for every waiter: in
      // workerd, a tee branch nobody read held the other one back (seen in the origin shield's tests).
      const gathered = await gather(response.body, max, take);
      if (gathered.rest !== null) {
        // Grew past a limit: not shared; this caller gets what was read and the rest as it arrives.
        release();
        settle({ kind: "unshared" });
        drop();
        const whole = new Response(gathered.rest, { status: response.status, headers: response.headers });
        return passThrough(whole, options);
      }
      const copy = snapshot(response, gathered.bytes);
      settle(copy);
      // Kept (cached) in the background; the flight stays joinable until then, so a miss meanwhile gets
      // these bytes instead of a second read.
      options.waitUntil(
        Promise.resolve(options.keep?.(toResponse(copy))).finally(() => {
          release();
          drop();
        }),
      );
      return waiterResponse(copy);
    } catch (error) {
      release();
      flight.settled = true;
      reject(error);
      drop();
      throw error;
    }
  }

  async #join(
    key: string,
    flight: Flight,
    load: () => Promise<Response | null>,
    options: ShareOptions,
  ): Promise<Response | null> {
    // The timer lives in this request, so a stuck or cancelled first request cannot pin this one.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => {
          // A later read starts afresh instead of joining this one.
          if (this.#flights.get(key) === flight) this.#flights.delete(key);
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
    return passThrough(await load(), options);
  }
}

// Per isolate (module scope): keyed by the cache key's URL, which names the asset and its cache generation.
const isolateFlights = new Flights();

/** In-flight reads in this isolate (tests). */
export function inFlight(): number {
  return isolateFlights.size;
}

/**
 * Answers a cache miss: the first miss for `cacheKey` in this isolate calls `load` and stores the result
 * in the cache; concurrent misses for the same key wait for that read (Flights.share). With `coalesce:
 * false` every miss loads and caches on its own.
 */
export async function fillOnce(
  cacheKey: Request,
  load: () => Promise<Response | null>,
  options: FillOptions,
): Promise<Response | null> {
  const keep = (response: Response) =>
    options.cache
      .put(cacheKey, response)
      .catch((error: unknown) => console.error(`play: cache.put ${cacheKey.url} failed:`, error));
  const share = { ...options, keep };
  if (options.coalesce === false) return passThrough(await load(), share);
  return isolateFlights.share(cacheKey.url, load, share);
}

/** A read not shared: streamed to its caller and, when something keeps it, into the keeper too. */
function passThrough(response: Response | null, options: ShareOptions): Response | null {
  const keep = options.keep;
  if (response === null || response.body === null || keep === undefined) return response;
  const [mine, kept] = response.body.tee();
  options.waitUntil(keep(new Response(kept, { status: response.status, headers: response.headers })));
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

/**
 * The whole stream as one array (`rest` null), or, once it grows past `max` bytes or `take` refuses a
 * chunk (the scope's budget, which counts what is buffered while it is buffered, is spent), a stream of
 * what was read followed by the rest of it (`bytes` null).
 */
async function gather(
  stream: ReadableStream<Uint8Array>,
  max: number,
  take: (bytes: number) => boolean,
): Promise<{ bytes: Uint8Array; rest: null } | { bytes: null; rest: ReadableStream<Uint8Array> }> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
    if (size > max || !take(value.byteLength)) return { bytes: null, rest: resumed(chunks, reader) };
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return { bytes, rest: null };
}

/** The chunks already read, then what `reader` still has. */
function resumed(
  chunks: Uint8Array[],
  reader: ReadableStreamDefaultReader<Uint8Array>,
): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const chunk = chunks.shift();
      if (chunk !== undefined) {
        controller.enqueue(chunk);
        return;
      }
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
}
