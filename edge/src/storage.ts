import { parseListObjects } from "@streamlet/shared";
import { AwsClient } from "aws4fetch";
import type { Config } from "./config.ts";
import { parseXml } from "./lib/xml.ts";

/** Seconds a presigned upload URL stays valid. */
export const UPLOAD_URL_SECONDS = 3600;

type S3Config = Config["s3"];

/** SigV4-signed access to the bucket, path-style (works with S3, B2, R2, MinIO and s3rver alike). */
export class Storage {
  readonly #aws: AwsClient;
  readonly #s3: S3Config;

  constructor(s3: S3Config) {
    this.#s3 = s3;
    this.#aws = new AwsClient({
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
      region: s3.region,
      service: "s3",
      retries: 2, // B2 and S3 answer 503 as "retry shortly"
    });
  }

  /**
   * A presigned PUT for browsers: signed for S3_PUBLIC_ENDPOINT (the host is part of the signature) and,
   * when `contentLength` is given, for exactly that many bytes (Content-Length is a signed header: any other
   * size fails the signature). No other header is signed, so the client sends the body and nothing else.
   */
  async presignPut(key: string, opts: { contentLength?: number; now?: Date } = {}) {
    const now = opts.now ?? new Date();
    const url = await this.#presign("PUT", new URL(this.#objectUrl(this.#s3.publicEndpoint, key)), {
      contentLength: opts.contentLength,
      now,
    });
    return {
      url,
      method: "PUT" as const,
      headers: {} as Record<string, string>,
      expiresAt: expiry(now),
    };
  }

  /** Starts a multipart upload of `key`; returns S3's upload id. */
  async createMultipartUpload(key: string, contentType?: string): Promise<string> {
    const url = new URL(this.#objectUrl(this.#s3.endpoint, key));
    url.searchParams.set("uploads", "");
    const res = await this.#aws.fetch(url.toString(), {
      method: "POST",
      headers: contentType ? { "content-type": contentType } : {},
    });
    const body = await this.#xml(res, `CREATE MULTIPART ${key}`);
    const uploadId = (body.InitiateMultipartUploadResult as { UploadId?: string } | undefined)?.UploadId;
    if (!uploadId) throw new Error(`storage CREATE MULTIPART ${key}: no UploadId in the answer`);
    return uploadId;
  }

  /** A presigned PUT of one part of a multipart upload, signed for exactly `size` bytes. */
  presignUploadPart(key: string, uploadId: string, partNumber: number, size: number, now = new Date()) {
    const url = new URL(this.#objectUrl(this.#s3.publicEndpoint, key));
    url.searchParams.set("partNumber", String(partNumber));
    url.searchParams.set("uploadId", uploadId);
    return this.#presign("PUT", url, { contentLength: size, now });
  }

  /**
   * The parts storage holds of a multipart upload, in part order (every page of ListParts); null when the
   * upload does not exist (completed, aborted or expired).
   */
  async listParts(key: string, uploadId: string): Promise<StoredPart[] | null> {
    const parts: StoredPart[] = [];
    let marker: string | null = null;
    do {
      const url = new URL(this.#objectUrl(this.#s3.endpoint, key));
      url.searchParams.set("uploadId", uploadId);
      if (marker !== null) url.searchParams.set("part-number-marker", marker);
      const res = await this.#aws.fetch(url.toString(), { method: "GET" });
      if (res.status === 404) {
        const code = errorCode(await res.text());
        if (code === "NoSuchUpload") return null;
        throw new StorageError(`storage LIST PARTS ${key}`, 404, code);
      }
      const page = (await this.#xml(res, `LIST PARTS ${key}`)).ListPartsResult as ListPartsResult;
      for (const part of page?.Part ?? []) {
        parts.push({ partNumber: Number(part.PartNumber), size: Number(part.Size), etag: part.ETag });
      }
      marker = page?.IsTruncated === "true" ? (page.NextPartNumberMarker ?? null) : null;
    } while (marker !== null);
    return parts.sort((a, b) => a.partNumber - b.partNumber);
  }

  /** Completes a multipart upload from `parts` (their numbers and ETags as storage reported them). */
  async completeMultipartUpload(key: string, uploadId: string, parts: StoredPart[]): Promise<void> {
    const url = new URL(this.#objectUrl(this.#s3.endpoint, key));
    url.searchParams.set("uploadId", uploadId);
    const body = `<CompleteMultipartUpload>${parts
      .map((p) => `<Part><PartNumber>${p.partNumber}</PartNumber><ETag>${escapeXml(p.etag)}</ETag></Part>`)
      .join("")}</CompleteMultipartUpload>`;
    const res = await this.#aws.fetch(url.toString(), {
      method: "POST",
      headers: { "content-type": "application/xml" },
      body,
    });
    // S3 may answer 200 and still fail: the error is then the body (it had started the response early).
    const result = await this.#xml(res, `COMPLETE MULTIPART ${key}`);
    if (!result.CompleteMultipartUploadResult) {
      throw new StorageError(`storage COMPLETE MULTIPART ${key}`, res.status, errorCodeOf(result));
    }
  }

  /** Aborts a multipart upload and drops its parts; one that no longer exists counts as aborted. */
  async abortMultipartUpload(key: string, uploadId: string): Promise<void> {
    const url = new URL(this.#objectUrl(this.#s3.endpoint, key));
    url.searchParams.set("uploadId", uploadId);
    const res = await this.#aws.fetch(url.toString(), { method: "DELETE" });
    const text = await res.text();
    if (res.ok || (res.status === 404 && errorCode(text) === "NoSuchUpload")) return;
    throw new StorageError(`storage ABORT MULTIPART ${key}`, res.status, errorCode(text));
  }

  /** The multipart uploads in progress under `prefix` (every page of ListMultipartUploads). */
  async listMultipartUploads(prefix: string): Promise<PendingUpload[]> {
    const uploads: PendingUpload[] = [];
    let markers: { key: string; uploadId: string } | null = null;
    do {
      const url = new URL(`${this.#s3.endpoint}/${encodeURIComponent(this.#s3.bucket)}`);
      url.searchParams.set("uploads", "");
      url.searchParams.set("prefix", prefix);
      if (markers) {
        url.searchParams.set("key-marker", markers.key);
        url.searchParams.set("upload-id-marker", markers.uploadId);
      }
      const res = await this.#aws.fetch(url.toString(), { method: "GET" });
      const page = (await this.#xml(res, `LIST MULTIPART ${prefix}`))
        .ListMultipartUploadsResult as ListUploadsResult;
      for (const upload of page?.Upload ?? []) {
        uploads.push({ key: upload.Key, uploadId: upload.UploadId, initiated: new Date(upload.Initiated) });
      }
      markers =
        page?.IsTruncated === "true" && page.NextKeyMarker
          ? { key: page.NextKeyMarker, uploadId: page.NextUploadIdMarker ?? "" }
          : null;
    } while (markers !== null);
    return uploads;
  }

  /** Size of an object, or null when it does not exist; throws on any other storage failure. */
  async headSize(key: string): Promise<number | null> {
    const res = await this.#aws.fetch(this.#objectUrl(this.#s3.endpoint, key), { method: "HEAD" });
    if (res.status === 404) return null;
    if (!res.ok) throw new Error(`storage HEAD ${key} failed: ${res.status}`);
    return Number(res.headers.get("content-length") ?? "0");
  }

  /** The whole object, or null when it does not exist; throws on any other storage failure. */
  async get(key: string): Promise<Response | null> {
    const res = await this.#aws.fetch(this.#objectUrl(this.#s3.endpoint, key), { method: "GET" });
    if (res.status === 404) {
      await res.body?.cancel();
      return null;
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new Error(`storage GET ${key} failed: ${res.status}`);
    }
    return res;
  }

  /**
   * Bytes `start`-`end` (inclusive) of an object: its 206, with Content-Range and ETag. Null when the
   * object is missing; "changed" when the range is past its end (the caller's idea of its size is stale)
   * or the store ignored the range; throws on any other storage failure.
   */
  async getRange(key: string, range: { start: number; end: number }): Promise<Response | null | "changed"> {
    const res = await this.#aws.fetch(this.#objectUrl(this.#s3.endpoint, key), {
      method: "GET",
      headers: { range: `bytes=${range.start}-${range.end}` },
    });
    if (res.status === 206) return res;
    await res.body?.cancel();
    if (res.status === 404) return null;
    if (res.status === 200 || res.status === 416) return "changed";
    throw new Error(`storage GET ${key} (bytes ${range.start}-${range.end}) failed: ${res.status}`);
  }

  /** Every key under `prefix` (ListObjectsV2, following continuation tokens); throws on storage failures. */
  async listKeys(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let continuation: string | null = null;
    do {
      const url = new URL(`${this.#s3.endpoint}/${encodeURIComponent(this.#s3.bucket)}`);
      url.searchParams.set("list-type", "2");
      url.searchParams.set("prefix", prefix);
      if (continuation !== null) url.searchParams.set("continuation-token", continuation);
      const res = await this.#aws.fetch(url.toString(), { method: "GET" });
      const xml = await res.text();
      if (!res.ok) throw new Error(`storage LIST ${prefix} failed: ${res.status}`);
      const page = parseListObjects(xml);
      keys.push(...page.keys);
      continuation = page.next;
    } while (continuation !== null);
    return keys;
  }

  /** Writes a small object (captions: the Worker never handles video bytes); throws on any storage failure. */
  async put(key: string, body: string | Uint8Array<ArrayBuffer>, contentType: string): Promise<void> {
    const res = await this.#aws.fetch(this.#objectUrl(this.#s3.endpoint, key), {
      method: "PUT",
      headers: { "content-type": contentType },
      body,
    });
    await res.body?.cancel();
    if (!res.ok) throw new Error(`storage PUT ${key} failed: ${res.status}`);
  }

  /** Deletes one object; a missing one counts as deleted. Throws on any other storage failure. */
  async delete(key: string): Promise<void> {
    const res = await this.#aws.fetch(this.#objectUrl(this.#s3.endpoint, key), { method: "DELETE" });
    await res.body?.cancel();
    if (!res.ok && res.status !== 404) throw new Error(`storage DELETE ${key} failed: ${res.status}`);
  }

  async #presign(method: string, url: URL, opts: { contentLength?: number | undefined; now: Date }) {
    url.searchParams.set("X-Amz-Expires", String(UPLOAD_URL_SECONDS));
    const signed = await this.#aws.sign(url.toString(), {
      method,
      headers: opts.contentLength === undefined ? {} : { "content-length": String(opts.contentLength) },
      // allHeaders: aws4fetch leaves Content-Length unsigned otherwise.
      aws: { signQuery: true, datetime: amzDate(opts.now), allHeaders: true },
    });
    return signed.url;
  }

  /** A response's XML body; throws (with S3's error code) unless it is a success. */
  async #xml(res: Response, what: string): Promise<Record<string, unknown>> {
    const text = await res.text();
    if (!res.ok) throw new StorageError(`storage ${what}`, res.status, errorCode(text));
    return parseXml(text);
  }

  #objectUrl(endpoint: string, key: string) {
    const path = key.split("/").map(encodeURIComponent).join("/");
    return `${endpoint}/${encodeURIComponent(this.#s3.bucket)}/${path}`;
  }
}

/** A storage request S3 refused: its status and S3's error code (NoSuchUpload, InvalidPart, ...). */
export class StorageError extends Error {
  override name = "StorageError";
  readonly status: number;
  readonly code: string | null;

  constructor(what: string, status: number, code: string | null) {
    super(`${what} failed: ${status}${code ? ` ${code}` : ""}`);
    this.status = status;
    this.code = code;
  }
}

/** A part of a multipart upload as storage reports it. */
export interface StoredPart {
  partNumber: number;
  size: number;
  etag: string;
}

/** A multipart upload in progress. */
export interface PendingUpload {
  key: string;
  uploadId: string;
  initiated: Date;
}

interface ListPartsResult {
  Part?: { PartNumber: string; Size: string; ETag: string }[];
  IsTruncated?: string;
  NextPartNumberMarker?: string;
}

interface ListUploadsResult {
  Upload?: { Key: string; UploadId: string; Initiated: string }[];
  IsTruncated?: string;
  NextKeyMarker?: string;
  NextUploadIdMarker?: string;
}

function errorCodeOf(body: Record<string, unknown>): string | null {
  return (body.Error as { Code?: string } | undefined)?.Code ?? null;
}

function errorCode(text: string): string | null {
  if (!text) return null;
  try {
    return errorCodeOf(parseXml(text));
  } catch {
    return null;
  }
}

function escapeXml(text: string) {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function expiry(now: Date) {
  return new Date(now.getTime() + UPLOAD_URL_SECONDS * 1000).toISOString();
}

function amzDate(date: Date) {
  return date.toISOString().replace(/[:-]|\.\d{3}/g, "");
}
