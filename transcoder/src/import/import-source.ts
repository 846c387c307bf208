import type { IncomingMessage } from "node:http";
import { type Readable, Transform } from "node:stream";
import type { DownloadProgress, StreamUploader } from "../storage.ts";
import { type AddressPolicy, DEFAULT_ADDRESS_POLICY } from "./address-policy.ts";
import { formatBytes, formatDuration, ImportError } from "./import-error.ts";
import { connectionError, openSource } from "./open-source.ts";
import { type Resolver, systemResolver } from "./target.ts";

/**
 * Imports a source video from a URL into storage, safe against server-side request forgery: only
 * http(s), every hop's every address checked against the address policy and the connection pinned
 * to those addresses, redirects followed by hand (at most 5), with a size limit, a deadline and an
 * idle timeout. Failures are ImportErrors whose messages are written for the user.
 */

export {
  type AddressPolicy,
  type AllowedRange,
  checkAddress,
  DEFAULT_ADDRESS_POLICY,
  parseAllowedAddresses,
} from "./address-policy.ts";
export { ImportError, type ImportErrorCode, isTransientImportError } from "./import-error.ts";
export type { ResolvedAddress, Resolver } from "./target.ts";

/** Stores the body under the source key; settles only once nothing half-stored remains. */
export type SourceSink = (body: Readable, contentType: string, signal: AbortSignal) => Promise<void>;

export interface ImportLimits {
  /** The largest file accepted, declared (Content-Length) or streamed. */
  maxBytes: number;
  /** The whole import, from the first DNS query to the last byte stored. */
  timeoutMs: number;
  /** The longest silence while connecting, waiting for headers or reading the body (default 30 s). */
  idleTimeoutMs?: number;
}

export interface ImportOptions {
  url: string;
  /** Aborts the import (the job was cancelled or the node shuts down): rejects with its reason. */
  signal?: AbortSignal;
  limits: ImportLimits;
  /** Ranges allowed although not public (IMPORT_ALLOWED_ADDRESSES); default: none. */
  policy?: AddressPolicy;
  sink: SourceSink;
  /** Bytes received and the declared size, at most every `progressIntervalMs`, and once at the end. */
  onProgress?: DownloadProgress;
  progressIntervalMs?: number;
  /** Host name resolution (tests); default: the system's, every address. */
  resolve?: Resolver;
  /** Default 5. */
  maxRedirects?: number;
  userAgent?: string;
}

export interface ImportResult {
  bytes: number;
  /** The response's media type ("video/mp4"), application/octet-stream when absent or malformed. */
  contentType: string;
}

const DEFAULT_IDLE_TIMEOUT_MS = 30_000;
const DEFAULT_USER_AGENT = "Streamlet-Importer/1.0";
/** setTimeout's longest delay (about 24.8 days); a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A sink that stores the body under `key` as a multipart upload (StreamUploader.putStream). */
export function storageSink(storage: Pick<StreamUploader, "putStream">, key: string): SourceSink {
  return (body, contentType, signal) => storage.putStream(key, body, contentType, signal);
}

/**
 * Downloads `url` into `sink`; resolves with the bytes stored and the content type. Rejects with an
 * ImportError (its `transient` says whether to retry), with the sink's own error when storage failed,
 * or with the signal's reason when aborted; in every case after the sink has settled.
 */
export async function importSource(options: ImportOptions): Promise<ImportResult> {
  const { limits } = options;
  for (const [name, value] of Object.entries(limits)) {
    if (value !== undefined && !(value > 0)) throw new RangeError(`import limit ${name} must be positive`);
  }
  options.signal?.throwIfAborted();
  const idleTimeoutMs = Math.min(
    limits.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    limits.timeoutMs,
    MAX_TIMER_MS,
  );
  // Aborted with the reason the import stops: the caller, the deadline, or the source failing.
  const stop = new AbortController();
  const stopWith = (reason: unknown) => {
    if (!stop.signal.aborted) stop.abort(reason);
  };
  const onCallerAbort = () => stopWith(options.signal?.reason);
  options.signal?.addEventListener("abort", onCallerAbort, { once: true });
  const deadline = setTimeout(
    () => {
      const limit = formatDuration(limits.timeoutMs);
      stopWith(new ImportError("timeout", `the download did not finish within the ${limit} limit`, false));
    },
    Math.min(limits.timeoutMs, MAX_TIMER_MS),
  );
  try {
    const { res, target } = await openSource(options.url, {
      policy: options.policy ?? DEFAULT_ADDRESS_POLICY,
      resolve: options.resolve ?? systemResolver,
      maxRedirects: options.maxRedirects ?? 5,
      idleTimeoutMs,
      signal: stop.signal,
      userAgent: options.userAgent ?? DEFAULT_USER_AGENT,
    });
    const total = declaredLength(res);
    if (total !== null && total > limits.maxBytes) {
      res.destroy();
      throw new ImportError(
        "too_large",
        `the file is ${formatBytes(total)}, larger than the ${formatBytes(limits.maxBytes)} limit`,
        false,
      );
    }
    const contentType = mediaType(res.headers["content-type"]);
    const body = meteredBody(res, {
      host: target.hostname,
      total,
      maxBytes: limits.maxBytes,
      idleTimeoutMs,
      onProgress: options.onProgress,
      progressIntervalMs: options.progressIntervalMs ?? 1000,
      fail: stopWith,
      stopped: stop.signal,
    });
    try {
      await options.sink(body.stream, contentType, stop.signal);
    } finally {
      body.dispose();
    }
    if (!body.ended()) throw new Error("the import sink returned before the body ended");
    return { bytes: body.bytes(), contentType };
  } catch (err) {
    throw stop.signal.aborted ? stop.signal.reason : err;
  } finally {
    clearTimeout(deadline);
    options.signal?.removeEventListener("abort", onCallerAbort);
  }
}

/** Content-Length when the server declares one. */
function declaredLength(res: IncomingMessage): number | null {
  const value = res.headers["content-length"];
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : null;
}

const MEDIA_TYPE = /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/;

/** The media type without parameters, if it is one. */
function mediaType(header: string | undefined): string {
  const type = header?.split(";")[0]?.trim().toLowerCase() ?? "";
  return type.length <= 127 && MEDIA_TYPE.test(type) ? type : "application/octet-stream";
}

interface MeterOptions {
  host: string;
  total: number | null;
  maxBytes: number;
  idleTimeoutMs: number;
  onProgress: DownloadProgress | undefined;
  progressIntervalMs: number;
  /** Stops the import with this reason (the first one wins). */
  fail: (err: unknown) => void;
  /** When the import stops for any reason, the body fails with it and the connection closes. */
  stopped: AbortSignal;
}

/**
 * The response body as the sink reads it: counted against the limit, watched for silence, checked
 * against its declared length, with throttled progress. Any failure goes through `fail`, so the body
 * fails with the same reason the import reports.
 */
function meteredBody(res: IncomingMessage, o: MeterOptions) {
  let bytes = 0;
  let ended = false;
  let lastReport = Date.now();
  let idle: NodeJS.Timeout | undefined;
  const report = (final: boolean) => {
    const now = Date.now();
    if (!o.onProgress || (!final && now - lastReport < o.progressIntervalMs)) return;
    lastReport = now;
    o.onProgress(bytes, o.total);
  };
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.byteLength;
      if (bytes > o.maxBytes) {
        const err = new ImportError(
          "too_large",
          `the file is larger than the ${formatBytes(o.maxBytes)} limit`,
          false,
        );
        o.fail(err);
        callback(err);
        return;
      }
      armIdle();
      report(false);
      callback(null, chunk);
    },
    flush(callback) {
      clearTimeout(idle);
      if (o.total !== null && bytes !== o.total) {
        const err = connectionError(
          Object.assign(new Error("short body"), { code: "ESHORT" }),
          o.host,
          bytes,
        );
        o.fail(err);
        callback(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      ended = true;
      report(true);
      callback();
    },
  });
  const armIdle = () => {
    clearTimeout(idle);
    idle = setTimeout(onIdle, o.idleTimeoutMs);
  };
  const onIdle = () => {
    // The body waits on storage (backpressure): the server is not the slow side, keep waiting.
    if (stream.writableNeedDrain || res.isPaused()) return armIdle();
    const silence = formatDuration(o.idleTimeoutMs);
    o.fail(new ImportError("timeout", `the server ${o.host} stopped sending data for ${silence}`, true));
  };
  const onStop = () => {
    clearTimeout(idle);
    const reason = o.stopped.reason;
    stream.destroy(reason instanceof Error ? reason : new Error(String(reason)));
    res.destroy();
  };
  // Its failures are reported through `fail` (the import's reason); the sink sees them as it reads,
  // and a body the sink has not started reading must not crash the process with an unhandled error.
  stream.on("error", () => {});
  if (o.stopped.aborted) onStop();
  else o.stopped.addEventListener("abort", onStop, { once: true });
  res.on("error", (err) => o.fail(connectionError(err, o.host, bytes)));
  res.on("close", () => {
    if (!res.complete) o.fail(connectionError(new Error("connection closed"), o.host, bytes));
  });
  res.pipe(stream);
  o.onProgress?.(0, o.total);
  armIdle();
  return {
    stream: stream as Readable,
    bytes: () => bytes,
    ended: () => ended,
    dispose() {
      clearTimeout(idle);
      o.stopped.removeEventListener("abort", onStop);
      if (!ended) res.destroy();
    },
  };
}
