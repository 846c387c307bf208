import { createReadStream, createWriteStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as NodeReadableStream } from "node:stream/web";
import { parseListObjects } from "@streamlet/shared";
import { AwsClient } from "aws4fetch";
import { StorageError, StorageNotFoundError } from "./errors.ts";
import { withRetry } from "./retry.ts";

export interface StorageConfig {
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export interface StorageOptions {
  /** Tries per request, the first included. */
  attempts?: number;
  baseDelayMs?: number;
  /** Files up to this size are sent from memory; larger ones stream from disk. */
  bufferLimitBytes?: number;
}

/** Bytes received so far and the object's size (Content-Length; null when the store doesn't say). */
export type DownloadProgress = (bytes: number, totalBytes: number | null) => void;

export interface Storage {
  /** Streams an object to `filePath`; returns the number of bytes written. A retry starts again from 0. */
  download(
    key: string,
    filePath: string,
    signal?: AbortSignal,
    onProgress?: DownloadProgress,
  ): Promise<number>;
  /** Uploads a file from disk. */
  putFile(key: string, filePath: string, contentType: string, signal?: AbortSignal): Promise<void>;
  /** Uploads a small in-memory body (playlists). */
  putBody(key: string, body: string | Uint8Array, contentType: string, signal?: AbortSignal): Promise<void>;
  /** Deletes every object under `prefix` (a cancelled job's output); returns how many there were. */
  deletePrefix(prefix: string): Promise<number>;
  /**
   * A presigned GET URL of an object, valid for `expiresSeconds` (1 s to 7 days, SigV4's range): what
   * ffmpeg reads over HTTP when it must start before a download could finish (the first chunk, the
   * audio). It carries a signature, so it is never logged (run-ffmpeg.ts redacts it from errors).
   */
  presignGet(key: string, expiresSeconds: number): Promise<string>;
}

/** SigV4's longest presigned lifetime. */
export const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;

/** Builds the path-style object URL, which every S3-compatible store (s3rver, MinIO, B2) accepts. */
export function objectUrl(endpoint: string, bucket: string, key: string): string {
  const path = key.split("/").map(encodeURIComponent).join("/");
  return `${endpoint.replace(/\/+$/, "")}/${encodeURIComponent(bucket)}/${path}`;
}

/** Transient = worth retrying: network failures, 5xx and 429. */
export function isTransientStorageError(err: unknown): boolean {
  if (err instanceof StorageError) return err.transient;
  if (err instanceof StorageNotFoundError) return false;
  if (err instanceof Error && err.name === "AbortError") return false;
  // fetch() rejects with a TypeError on connection failures; streams fail with ECONNRESET and friends.
  return err instanceof TypeError || (err instanceof Error && "code" in err);
}

/** One small S3 client on aws4fetch, so the transcoder doesn't pull in the AWS SDK. */
export function createStorage(config: StorageConfig, options: StorageOptions = {}): Storage {
  const attempts = options.attempts ?? 4;
  const baseDelayMs = options.baseDelayMs ?? 500;
  const bufferLimit = options.bufferLimitBytes ?? 32 * 1024 * 1024;
  // retries: 0 because we retry ourselves, network errors included, and a streamed body can't be replayed.
  const client = new AwsClient({
    accessKeyId: config.accessKeyId,
    secretAccessKey: config.secretAccessKey,
    region: config.region,
    service: "s3",
    retries: 0,
  });
  const url = (key: string) => objectUrl(config.endpoint, config.bucket, key);
  const retry = <T>(fn: () => Promise<T>, signal?: AbortSignal) =>
    withRetry(fn, { attempts, baseDelayMs, isTransient: isTransientStorageError, signal });

  async function failure(res: Response, verb: string, key: string): Promise<StorageError> {
    const body = await res.text().catch(() => "");
    const transient = res.status >= 500 || res.status === 429;
    return new StorageError(
      `storage ${verb} ${key} failed with HTTP ${res.status}: ${body.slice(0, 300)}`,
      res.status,
      transient,
    );
  }

  async function put(
    key: string,
    makeBody: () => Promise<{
      body: Uint8Array | ReadableStream<Uint8Array>;
      length: number;
      streamed: boolean;
    }>,
    contentType: string,
    signal?: AbortSignal,
  ): Promise<void> {
    await retry(async () => {
      const { body, length, streamed } = await makeBody();
      const res = await client.fetch(url(key), {
        method: "PUT",
        body,
        headers: { "Content-Type": contentType, "Content-Length": String(length) },
        signal,
        // Node's fetch needs duplex for a stream body; S3 needs the Content-Length set above (no chunked PUT).
        ...(streamed ? { duplex: "half" } : {}),
      } as RequestInit);
      if (!res.ok) throw await failure(res, "PUT", key);
      await res.body?.cancel();
    }, signal);
  }

  return {
    async download(key, filePath, signal, onProgress) {
      return retry(async () => {
        const res = await client.fetch(url(key), { method: "GET", signal });
        if (res.status === 404) {
          await res.body?.cancel();
          throw new StorageNotFoundError(key);
        }
        if (!res.ok || !res.body) throw await failure(res, "GET", key);
        const length = Number(res.headers.get("content-length") ?? Number.NaN);
        const totalBytes = Number.isSafeInteger(length) && length >= 0 ? length : null;
        let bytes = 0;
        onProgress?.(0, totalBytes);
        const count = new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            bytes += chunk.byteLength;
            onProgress?.(bytes, totalBytes);
            callback(null, chunk);
          },
        });
        const out = createWriteStream(filePath);
        const body = Readable.fromWeb(res.body as NodeReadableStream<Uint8Array>);
        await pipeline(body, count, out, { signal });
        return out.bytesWritten;
      }, signal);
    },

    async presignGet(key, expiresSeconds) {
      const seconds = Math.ceil(expiresSeconds);
      if (!(seconds >= 1 && seconds <= MAX_PRESIGN_SECONDS)) {
        throw new Error(`a presigned URL lives 1 s to 7 days, not ${expiresSeconds} s`);
      }
      const target = new URL(url(key));
      target.searchParams.set("X-Amz-Expires", String(seconds));
      const signed = await client.sign(target.toString(), { method: "GET", aws: { signQuery: true } });
      return signed.url;
    },

    async putFile(key, filePath, contentType, signal) {
      await put(
        key,
        async () => {
          const { size } = await stat(filePath);
          if (size <= bufferLimit) {
            return { body: new Uint8Array(await readFile(filePath)), length: size, streamed: false };
          }
          const stream = Readable.toWeb(createReadStream(filePath)) as unknown as ReadableStream<Uint8Array>;
          return { body: stream, length: size, streamed: true };
        },
        contentType,
        signal,
      );
    },

    async deletePrefix(prefix) {
      if (!prefix.endsWith("/"))
        throw new Error(`deletePrefix needs a folder prefix ending in "/": ${prefix}`);
      let deleted = 0;
      let continuation: string | null = null;
      do {
        const list = new URL(`${config.endpoint.replace(/\/+$/, "")}/${encodeURIComponent(config.bucket)}`);
        list.searchParams.set("list-type", "2");
        list.searchParams.set("prefix", prefix);
        if (continuation !== null) list.searchParams.set("continuation-token", continuation);
        const page = await retry(async () => {
          const res = await client.fetch(list.toString(), { method: "GET" });
          if (!res.ok) throw await failure(res, "LIST", prefix);
          return parseListObjects(await res.text());
        });
        for (const key of page.keys) {
          await retry(async () => {
            const res = await client.fetch(url(key), { method: "DELETE" });
            await res.body?.cancel();
            if (!res.ok && res.status !== 404) throw await failure(res, "DELETE", key);
          });
          deleted += 1;
        }
        continuation = page.next;
      } while (continuation !== null);
      return deleted;
    },

    async putBody(key, body, contentType, signal) {
      const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
      await put(
        key,
        async () => ({ body: bytes, length: bytes.byteLength, streamed: false }),
        contentType,
        signal,
      );
    },
  };
}
