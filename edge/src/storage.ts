import { parseListObjects } from "@streamlet/shared";
import { AwsClient } from "aws4fetch";
import type { Config } from "./config.ts";

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
   * A presigned PUT for browsers: signed for S3_PUBLIC_ENDPOINT (the host is part of the signature),
   * with no signed headers, so the client sends the body and nothing else.
   */
  async presignPut(key: string, now = new Date()) {
    const url = new URL(this.#objectUrl(this.#s3.publicEndpoint, key));
    url.searchParams.set("X-Amz-Expires", String(UPLOAD_URL_SECONDS));
    const signed = await this.#aws.sign(url.toString(), {
      method: "PUT",
      aws: { signQuery: true, datetime: amzDate(now) },
    });
    return {
      url: signed.url,
      method: "PUT" as const,
      headers: {} as Record<string, string>,
      expiresAt: new Date(now.getTime() + UPLOAD_URL_SECONDS * 1000).toISOString(),
    };
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

  /** Deletes one object; a missing one counts as deleted. Throws on any other storage failure. */
  async delete(key: string): Promise<void> {
    const res = await this.#aws.fetch(this.#objectUrl(this.#s3.endpoint, key), { method: "DELETE" });
    await res.body?.cancel();
    if (!res.ok && res.status !== 404) throw new Error(`storage DELETE ${key} failed: ${res.status}`);
  }

  #objectUrl(endpoint: string, key: string) {
    const path = key.split("/").map(encodeURIComponent).join("/");
    return `${endpoint}/${encodeURIComponent(this.#s3.bucket)}/${path}`;
  }
}

function amzDate(date: Date) {
  return date.toISOString().replace(/[:-]|\.\d{3}/g, "");
}
