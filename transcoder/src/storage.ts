import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, readFile, stat, writeFile } from "node:fs/promises";
import type { Readable } from "node:stream";
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { StorageError, StorageNotFoundError } from "./errors.ts";
import { withRetry } from "./retry.ts";

/**
 * The node's object storage, on the AWS SDK (@aws-sdk/client-s3, lib-storage for large uploads, the
 * presigner): the one module that talks to S3, B2 or any S3-compatible store. The Worker keeps its own
 * small signer (edge/src/storage.ts): the SDK is for Node.
 */

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
  /** Files up to this size go in one PutObject from memory; larger ones as a multipart upload from disk. */
  bufferLimitBytes?: number;
  /** Part size of a multipart upload (at least 5 MiB, S3's minimum for every part but the last). */
  partSizeBytes?: number;
}

/** Bytes received so far and the object's size (Content-Length; null when the store doesn't say). */
export type DownloadProgress = (bytes: number, totalBytes: number | null) => void;

export interface Storage {
  /**
   * Streams an object to `filePath`; returns its size. A retry resumes after the bytes already on disk
   * (a Range request for the same ETag), or starts again when the object changed.
   */
  download(
    key: string,
    filePath: string,
    signal?: AbortSignal,
    onProgress?: DownloadProgress,
  ): Promise<number>;
  /** Uploads a file from disk (a multipart upload above `bufferLimitBytes`). */
  putFile(key: string, filePath: string, contentType: string, signal?: AbortSignal): Promise<void>;
  /** Uploads a small in-memory body (playlists). */
  putBody(key: string, body: string | Uint8Array, contentType: string, signal?: AbortSignal): Promise<void>;
  /** Deletes every object under `prefix` (a cancelled job's output), in batches; returns how many there were. */
  deletePrefix(prefix: string): Promise<number>;
  /**
   * A presigned GET URL of an object, valid for `expiresSeconds` (1 s to 7 days, SigV4's range): what
   * ffmpeg reads over HTTP when it must start before a download could finish (the first chunk, the
   * audio). It carries a signature, so it is never logged (run-ffmpeg.ts redacts it from errors).
   */
  presignGet(key: string, expiresSeconds: number): Promise<string>;
}

/** Storage that also takes a body of unknown length as it arrives (a source imported from a URL). */
export interface StreamUploader {
  /**
   * Uploads a stream as it arrives, in parts of `partSizeBytes` (one PutObject when it is smaller),
   * without retries (a stream cannot be read twice). When the body fails, or `signal` aborts (which
   * fails the body with its reason), the promise settles only after the multipart upload was aborted
   * and its parts removed: nothing half-stored remains.
   */
  putStream(key: string, body: Readable, contentType: string, signal?: AbortSignal): Promise<void>;
  /** Whether an object exists (HeadObject; retried like every request). */
  exists(key: string, signal?: AbortSignal): Promise<boolean>;
}

/** SigV4's longest presigned lifetime. */
export const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;
/** S3's smallest part (every part but the last). */
const MIN_PART_BYTES = 5 * 1024 * 1024;
/** Keys per DeleteObjects request (S3's maximum). */
const DELETE_BATCH = 1000;

/** Transient = worth retrying: network failures, 5xx and 429. */
export function isTransientStorageError(err: unknown): boolean {
  if (err instanceof StorageError) return err.transient;
  if (err instanceof StorageNotFoundError) return false;
  if (err instanceof Error && err.name === "AbortError") return false;
  // Connection failures and cut streams carry a code (ECONNRESET, ECONNREFUSED…); fetch's are TypeErrors.
  return err instanceof TypeError || (err instanceof Error && "code" in err);
}

/**
 * The SDK client for an S3-compatible store: path-style URLs, checksums only where the API requires
 * them (the SDK's default CRC32 on every upload frames streamed bodies as aws-chunked, which s3rver and
 * B2 store as is; STACK.md), no SDK retries (withRetry retries with the node's backoff and knows what
 * is transient), and Content-MD5 on DeleteObjects, which SDKs since January 2025 no longer send (they
 * send CRC32 instead) and which B2, MinIO and other stores still require.
 */
export function createS3Client(config: StorageConfig): S3Client {
  const client = new S3Client({
    endpoint: config.endpoint,
    region: config.region,
    forcePathStyle: true,
    credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    maxAttempts: 1,
  });
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const request = args.request as { headers?: Record<string, string>; body?: unknown };
      if (
        context.commandName === "DeleteObjectsCommand" &&
        request.headers &&
        typeof request.body === "string"
      ) {
        request.headers["content-md5"] = createHash("md5").update(request.body).digest("base64");
      }
      return next(args);
    },
    { step: "build", name: "deleteObjectsContentMd5" },
  );
  return client;
}

/** The SDK's error as ours: 404 → StorageNotFoundError; an HTTP failure → StorageError with its status. */
function storageError(err: unknown, verb: string, key: string): unknown {
  if (!(err instanceof S3ServiceException)) return err; // network errors and aborts, as they are
  const status = err.$metadata.httpStatusCode ?? 0;
  if (status === 404 || err.name === "NoSuchKey") return new StorageNotFoundError(key);
  return new StorageError(
    `storage ${verb} ${key} failed with HTTP ${status}: ${err.name}: ${err.message}`.slice(0, 400),
    status,
    status >= 500 || status === 429,
  );
}

/** The node's storage on the AWS SDK (see the module comment). */
export function createStorage(config: StorageConfig, options: StorageOptions = {}): Storage & StreamUploader {
  const attempts = options.attempts ?? 4;
  const baseDelayMs = options.baseDelayMs ?? 500;
  const bufferLimit = options.bufferLimitBytes ?? 32 * 1024 * 1024;
  const partSize = Math.max(MIN_PART_BYTES, options.partSizeBytes ?? 16 * 1024 * 1024);
  const client = createS3Client(config);
  const Bucket = config.bucket;
  const retry = <T>(fn: () => Promise<T>, verb: string, key: string, signal?: AbortSignal) =>
    withRetry(
      async () => {
        try {
          return await fn();
        } catch (err) {
          throw storageError(err, verb, key);
        }
      },
      { attempts, baseDelayMs, isTransient: isTransientStorageError, signal },
    );

  async function putObject(key: string, body: Uint8Array, contentType: string, signal?: AbortSignal) {
    await retry(
      () =>
        client.send(
          new PutObjectCommand({
            Bucket,
            Key: key,
            Body: body,
            ContentType: contentType,
            ContentLength: body.byteLength,
          }),
          { abortSignal: signal },
        ),
      "PUT",
      key,
      signal,
    );
  }

  return {
    async download(key, filePath, signal, onProgress) {
      // A retry resumes where the file on disk ends (Range), pinned to the object it started on
      // (If-Match its ETag): a dropped connection at 90 % of a 50-GB source costs 10 %, not 100 %.
      let etag: string | undefined;
      let totalBytes: number | null = null;
      let resumeAt = 0;
      await writeFile(filePath, "");
      return retry(
        async () => {
          resumeAt = etag === undefined ? 0 : (await stat(filePath)).size;
          let res: GetObjectCommandOutput;
          try {
            res = await client.send(
              new GetObjectCommand({
                Bucket,
                Key: key,
                ...(resumeAt > 0 ? { Range: `bytes=${resumeAt}-`, IfMatch: etag } : {}),
              }),
              { abortSignal: signal },
            );
          } catch (err) {
            if (resumeAt > 0 && err instanceof S3ServiceException && err.$metadata.httpStatusCode === 412) {
              etag = undefined; // the object changed under us: start again from the first byte
              throw new StorageError(`storage GET ${key}: the object changed while it downloaded`, 412, true);
            }
            throw err;
          }
          if (!res.Body) throw new StorageError(`storage GET ${key} answered without a body`, 0, true);
          const ranged = resumeAt > 0 && res.$metadata.httpStatusCode === 206;
          if (!ranged) {
            // The first request, or a store that ignored the Range: the whole object, from byte 0.
            resumeAt = 0;
            etag = res.ETag;
            const length = res.ContentLength;
            totalBytes = length !== undefined && Number.isSafeInteger(length) && length >= 0 ? length : null;
          }
          let bytes = resumeAt;
          onProgress?.(bytes, totalBytes);
          // Each chunk is on disk before the next is read, so a cut connection leaves exactly the bytes
          // counted for the next try to resume after (a stream pipeline drops what it still buffers).
          const out = await open(filePath, ranged ? "a" : "w");
          try {
            for await (const chunk of res.Body as Readable) {
              signal?.throwIfAborted();
              await out.write(chunk as Buffer);
              bytes += (chunk as Buffer).byteLength;
              onProgress?.(bytes, totalBytes);
            }
          } finally {
            await out.close();
          }
          return bytes;
        },
        "GET",
        key,
        signal,
      );
    },

    async presignGet(key, expiresSeconds) {
      const seconds = Math.ceil(expiresSeconds);
      if (!(seconds >= 1 && seconds <= MAX_PRESIGN_SECONDS)) {
        throw new Error(`a presigned URL lives 1 s to 7 days, not ${expiresSeconds} s`);
      }
      return getSignedUrl(client, new GetObjectCommand({ Bucket, Key: key }), { expiresIn: seconds });
    },

    async putFile(key, filePath, contentType, signal) {
      const { size } = await stat(filePath);
      if (size <= bufferLimit)
        return putObject(key, new Uint8Array(await readFile(filePath)), contentType, signal);
      // A multipart upload (parts in parallel; aborted, its parts removed, when it fails), whole again
      // on a retry: a file on disk can be read again.
      await retry(
        async () => {
          const upload = new Upload({
            client,
            params: { Bucket, Key: key, Body: createReadStream(filePath), ContentType: contentType },
            partSize,
            queueSize: 4,
            leavePartsOnError: false,
          });
          const abort = () => void upload.abort();
          signal?.addEventListener("abort", abort, { once: true });
          try {
            await upload.done();
          } finally {
            signal?.removeEventListener("abort", abort);
          }
        },
        "PUT",
        key,
        signal,
      );
    },

    async exists(key, signal) {
      try {
        await retry(
          () => client.send(new HeadObjectCommand({ Bucket, Key: key }), { abortSignal: signal }),
          "HEAD",
          key,
          signal,
        );
        return true;
      } catch (err) {
        if (err instanceof StorageNotFoundError) return false;
        throw err;
      }
    },

    async putStream(key, body, contentType, signal) {
      signal?.throwIfAborted();
      // A request that fails fails the body with its error at once, and the body's error is what this
      // reports: lib-storage would end the body with a bare AbortError (closing its iterator) and, when
      // AbortMultipartUpload fails too, report that instead of the cause.
      const send = client.send.bind(client) as (...args: unknown[]) => Promise<unknown>;
      const failFast = new Proxy(client, {
        get: (target, prop, receiver) =>
          prop === "send"
            ? (...args: unknown[]) =>
                send(...args).catch((err: unknown) => {
                  if (!body.destroyed && !body.readableEnded) {
                    body.destroy(err instanceof Error ? err : new Error(String(err)));
                  }
                  throw err;
                })
            : Reflect.get(target, prop, receiver),
      });
      const upload = new Upload({
        client: failFast,
        params: { Bucket, Key: key, Body: body, ContentType: contentType },
        partSize,
        queueSize: 4,
        leavePartsOnError: false,
      });
      // Failing the body rather than calling upload.abort(): done() then rejects only once the parts in
      // flight have settled and AbortMultipartUpload has answered (abort() would reject at once and
      // leave that clean-up running behind the caller's back).
      const abort = () => body.destroy(signal?.reason ?? new Error("upload aborted"));
      signal?.addEventListener("abort", abort, { once: true });
      try {
        await upload.done();
      } catch (err) {
        // The first cause: the source's failure, the abort signal's reason, or the request that failed.
        throw storageError(body.errored ?? err, "PUT", key);
      } finally {
        signal?.removeEventListener("abort", abort);
      }
    },

    async deletePrefix(prefix) {
      if (!prefix.endsWith("/"))
        throw new Error(`deletePrefix needs a folder prefix ending in "/": ${prefix}`);
      let deleted = 0;
      let token: string | undefined;
      do {
        const page = await retry(
          () =>
            client.send(
              new ListObjectsV2Command({
                Bucket,
                Prefix: prefix,
                ContinuationToken: token,
                MaxKeys: DELETE_BATCH,
              }),
            ),
          "LIST",
          prefix,
        );
        const keys = (page.Contents ?? []).flatMap((o) => (o.Key ? [o.Key] : []));
        if (keys.length > 0) {
          const result = await retry(
            () =>
              client.send(
                new DeleteObjectsCommand({
                  Bucket,
                  Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true },
                }),
              ),
            "DELETE",
            prefix,
          );
          const failed = (result.Errors ?? []).filter((e) => e.Code !== "NoSuchKey");
          if (failed.length > 0) {
            const first = failed[0];
            throw new StorageError(
              `storage DELETE under ${prefix}: ${failed.length} of ${keys.length} objects not deleted (${first?.Key}: ${first?.Code} ${first?.Message ?? ""})`,
              0,
              true,
            );
          }
          deleted += keys.length;
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token !== undefined);
      return deleted;
    },

    async putBody(key, body, contentType, signal) {
      const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
      await putObject(key, bytes, contentType, signal);
    },
  };
}
