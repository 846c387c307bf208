/**
 * One-shot set-up of the compose stack's Garage (docker-compose service `storage-init`), idempotent:
 *   1. waits for the node (its admin API answers /health once `--single-node` has applied the layout);
 *   2. creates the bucket S3_BUCKET;
 *   3. imports the application's key (S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY) and allows it read and
 *      write on that bucket only: no owner rights, no bucket creation, nothing on other buckets;
 *   4. sets the bucket's CORS rules (browser PUT from FRONTEND_ORIGIN, ETag exposed) through the S3 API
 *      with a throwaway key that owns the bucket, deleted again at once.
 * Run by Node 24 itself (type stripping): `node deploy/garage/init.ts`, in the edge image (aws4fetch).
 */
import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { AwsClient } from "aws4fetch";

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    console.error(`storage-init: ${name} is not set`);
    process.exit(2);
  }
  return value;
}

const admin = required("GARAGE_ADMIN_URL").replace(/\/+$/, "");
const adminToken = required("GARAGE_ADMIN_TOKEN");
const s3Endpoint = required("S3_ENDPOINT").replace(/\/+$/, "");
const region = process.env.S3_REGION || "us-east-1";
const bucket = required("S3_BUCKET");
const keyId = required("S3_ACCESS_KEY_ID");
const secret = required("S3_SECRET_ACCESS_KEY");
const origins = (process.env.FRONTEND_ORIGIN || "http://localhost:5173")
  .split(",")
  .map((o) => o.trim())
  .filter(Boolean);

// Garage only accepts keys of its own shape: "GK" + 12 bytes in hex, and a 32-byte hex secret.
if (!/^GK[0-9a-f]{24}$/.test(keyId)) {
  console.error(
    'storage-init: S3_ACCESS_KEY_ID must be "GK" followed by 24 lowercase hex characters: echo "GK$(openssl rand -hex 12)"',
  );
  process.exit(2);
}
if (!/^[0-9a-f]{64}$/.test(secret)) {
  console.error(
    "storage-init: S3_SECRET_ACCESS_KEY must be 64 lowercase hex characters: openssl rand -hex 32",
  );
  process.exit(2);
}

async function api(method: "GET" | "POST", path: string, body?: unknown): Promise<Response> {
  return fetch(`${admin}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${adminToken}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
}

async function json<T>(res: Response, what: string): Promise<T> {
  const text = await res.text();
  if (!res.ok) throw new Error(`${what}: HTTP ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

async function waitForGarage() {
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      const res = await fetch(`${admin}/health`, { signal: AbortSignal.timeout(3000) });
      await res.body?.cancel();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`Garage's admin API at ${admin} was not healthy within 120 s`);
    await sleep(1000);
  }
}

async function ensureBucket(): Promise<string> {
  const found = await api("GET", `/v2/GetBucketInfo?globalAlias=${encodeURIComponent(bucket)}`);
  if (found.ok) return (await json<{ id: string }>(found, "GetBucketInfo")).id;
  await found.body?.cancel();
  const created = await api("POST", "/v2/CreateBucket", { globalAlias: bucket });
  const { id } = await json<{ id: string }>(created, "CreateBucket");
  console.log(`storage-init: created bucket ${bucket}`);
  return id;
}

async function ensureAppKey(bucketId: string) {
  const found = await api("GET", `/v2/GetKeyInfo?id=${encodeURIComponent(keyId)}&showSecretKey=true`);
  if (found.ok) {
    const info = await json<{ secretAccessKey?: string | null }>(found, "GetKeyInfo");
    if (info.secretAccessKey && info.secretAccessKey !== secret) {
      throw new Error(
        `key ${keyId} already exists in Garage with another secret: set S3_SECRET_ACCESS_KEY back, or delete the garage-meta volume`,
      );
    }
  } else {
    await found.body?.cancel();
    const imported = await api("POST", "/v2/ImportKey", {
      accessKeyId: keyId,
      secretAccessKey: secret,
      name: "streamlet-app",
    });
    await json(imported, "ImportKey");
    console.log(`storage-init: imported the application key ${keyId}`);
  }
  // Least privilege: read + write on this bucket; never owner (bucket settings, deletion).
  await json(
    await api("POST", "/v2/AllowBucketKey", {
      bucketId,
      accessKeyId: keyId,
      permissions: { read: true, write: true, owner: false },
    }),
    "AllowBucketKey",
  );
  await json(
    await api("POST", "/v2/DenyBucketKey", {
      bucketId,
      accessKeyId: keyId,
      permissions: { read: false, write: false, owner: true },
    }),
    "DenyBucketKey",
  );
}

function corsXml(allowed: string[]): string {
  const rule = [
    "<CORSRule>",
    ...allowed.map((o) => `<AllowedOrigin>${o}</AllowedOrigin>`),
    "<AllowedMethod>PUT</AllowedMethod>",
    "<AllowedMethod>GET</AllowedMethod>",
    "<AllowedMethod>HEAD</AllowedMethod>",
    "<AllowedHeader>*</AllowedHeader>",
    "<ExposeHeader>ETag</ExposeHeader>",
    "<MaxAgeSeconds>3600</MaxAgeSeconds>",
    "</CORSRule>",
  ].join("");
  return `<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${rule}</CORSConfiguration>`;
}

async function setCors(bucketId: string) {
  // PutBucketCors needs a key that owns the bucket: a temporary one, deleted whatever happens.
  const created = await json<{ accessKeyId: string; secretAccessKey: string }>(
    await api("POST", "/v2/CreateKey", { name: "streamlet-cors-setup" }),
    "CreateKey",
  );
  try {
    await json(
      await api("POST", "/v2/AllowBucketKey", {
        bucketId,
        accessKeyId: created.accessKeyId,
        permissions: { read: false, write: false, owner: true },
      }),
      "AllowBucketKey (setup key)",
    );
    const aws = new AwsClient({
      accessKeyId: created.accessKeyId,
      secretAccessKey: created.secretAccessKey,
      region,
      service: "s3",
    });
    const body = corsXml(origins);
    const res = await aws.fetch(`${s3Endpoint}/${encodeURIComponent(bucket)}?cors`, {
      method: "PUT",
      body,
      headers: {
        "content-type": "application/xml",
        "content-md5": createHash("md5").update(body).digest("base64"),
      },
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`PutBucketCors: HTTP ${res.status} ${text.slice(0, 300)}`);
    console.log(`storage-init: CORS on ${bucket}: PUT/GET/HEAD from ${origins.join(", ")}, ETag exposed`);
  } finally {
    const deleted = await api("POST", `/v2/DeleteKey?id=${encodeURIComponent(created.accessKeyId)}`);
    await deleted.body?.cancel();
  }
}

try {
  await waitForGarage();
  const bucketId = await ensureBucket();
  await ensureAppKey(bucketId);
  await setCors(bucketId);
  console.log("storage-init: done");
} catch (err) {
  console.error(`storage-init: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
