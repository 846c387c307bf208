/**
 * The stack's S3 (scripts/stack/s3-server.ts: s3rver plus the multipart routes it lacks) as a child process,
 * driven by @aws-sdk/client-s3 and by presigned URLs the way browsers use them: ListParts,
 * AbortMultipartUpload, ListMultipartUploads, UploadPart and CompleteMultipartUpload answer as S3 documents,
 * and presigned URLs are checked for expiry and signature (content-length included).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { AwsClient } from "aws4fetch";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkStorage } from "../doctor/storage.ts";
import { CORS_XML, S3_ACCESS_KEY, S3_SECRET_KEY } from "../stack/services.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");
const BUCKET = "s3-server-test";
const MiB = 1024 * 1024;
const dir = mkdtempSync(path.join(os.tmpdir(), "streamlet-s3-server-test-"));
const uploadsDir = path.join(dir, "data", BUCKET, "._S3rver_uploads");
let child: ChildProcess | undefined;
let endpoint = "";
let s3: S3Client;

/** Starts the wrapper the way startS3 does, on a port the OS picks, and reads the port from its output. */
async function startWrapper(): Promise<string> {
  const cors = path.join(dir, "cors.xml");
  writeFileSync(cors, CORS_XML);
  const script = path.join(ROOT, "scripts", "stack", "s3-server.ts");
  const args = ["--openssl-legacy-provider", "--import", "tsx", script, "-d", path.join(dir, "data")];
  args.push("-a", "127.0.0.1", "-p", "0", "--configure-bucket", BUCKET, cors, "--silent");
  const proc = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  child = proc;
  let output = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`s3-server did not start:\n${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on ([\d.]+):(\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(`http://${match[1]}:${match[2]}`);
      }
    };
    proc.stdout.on("data", onData);
    proc.stderr.on("data", onData);
    proc.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`s3-server exited with ${code}:\n${output}`));
    });
  });
}

beforeAll(async () => {
  endpoint = await startWrapper();
  s3 = new S3Client({
    endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: S3_ACCESS_KEY, secretAccessKey: S3_SECRET_KEY },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}, 40_000);

afterAll(() => {
  s3?.destroy();
  child?.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

/** The S3 error a call fails with: its code and HTTP status. */
async function s3Error(promise: Promise<unknown>) {
  try {
    await promise;
  } catch (err) {
    if (err instanceof S3ServiceException) return { code: err.name, status: err.$metadata.httpStatusCode };
    throw err;
  }
  throw new Error("expected an S3 error");
}

async function create(key: string) {
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key }));
  if (!UploadId) throw new Error("no UploadId");
  return UploadId;
}

async function uploadPart(key: string, uploadId: string, partNumber: number, body: Uint8Array) {
  const { ETag } = await s3.send(
    new UploadPartCommand({
      Bucket: BUCKET,
      Key: key,
      UploadId: uploadId,
      PartNumber: partNumber,
      Body: body,
    }),
  );
  if (!ETag) throw new Error("no ETag");
  return ETag;
}

const bytes = (size: number, fill: number) => new Uint8Array(size).fill(fill);

describe("ListParts", () => {
  it("lists stored parts with ETag, Size and LastModified, paginated by max-parts and part-number-marker", async () => {
    const key = "list-parts/video.mp4";
    const uploadId = await create(key);
    const etags = [
      await uploadPart(key, uploadId, 1, bytes(10, 1)),
      await uploadPart(key, uploadId, 2, bytes(20, 2)),
      await uploadPart(key, uploadId, 3, bytes(30, 3)),
    ];
    const first = await s3.send(
      new ListPartsCommand({ Bucket: BUCKET, Key: key, UploadId: uploadId, MaxParts: 2 }),
    );
    expect(first.Parts?.map((p) => [p.PartNumber, p.ETag, p.Size])).toEqual([
      [1, etags[0], 10],
      [2, etags[1], 20],
    ]);
    expect(first.Parts?.[0]?.ETag).toMatch(/^"[0-9a-f]{32}"$/);
    expect(first.Parts?.[0]?.LastModified?.getTime()).toBeGreaterThan(Date.now() - 60_000);
    expect(first).toMatchObject({
      IsTruncated: true,
      NextPartNumberMarker: "2",
      MaxParts: 2,
      UploadId: uploadId,
    });
    expect(first.Key).toBe(key);

    const second = await s3.send(
      new ListPartsCommand({
        Bucket: BUCKET,
        Key: key,
        UploadId: uploadId,
        MaxParts: 2,
        PartNumberMarker: "2",
      }),
    );
    expect(second.Parts?.map((p) => [p.PartNumber, p.ETag, p.Size])).toEqual([[3, etags[2], 30]]);
    expect(second).toMatchObject({ IsTruncated: false, PartNumberMarker: "2" });
  });

  it("answers 404 NoSuchUpload for an unknown upload and for an upload of another key", async () => {
    expect(
      await s3Error(s3.send(new ListPartsCommand({ Bucket: BUCKET, Key: "nope", UploadId: "0123abcd" }))),
    ).toEqual({ code: "NoSuchUpload", status: 404 });
    const uploadId = await create("list-parts/a");
    expect(
      await s3Error(
        s3.send(new ListPartsCommand({ Bucket: BUCKET, Key: "list-parts/b", UploadId: uploadId })),
      ),
    ).toEqual({ code: "NoSuchUpload", status: 404 });
  });
});

describe("AbortMultipartUpload", () => {
  it("answers 204 and removes the parts; afterwards the upload is gone for every operation", async () => {
    const key = "abort/video.mp4";
    const uploadId = await create(key);
    await uploadPart(key, uploadId, 1, bytes(10, 1));
    expect(existsSync(path.join(uploadsDir, uploadId, "1"))).toBe(true);

    const aborted = await s3.send(
      new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId: uploadId }),
    );
    expect(aborted.$metadata.httpStatusCode).toBe(204);
    expect(existsSync(path.join(uploadsDir, uploadId))).toBe(false);

    const gone = { code: "NoSuchUpload", status: 404 };
    expect(
      await s3Error(s3.send(new ListPartsCommand({ Bucket: BUCKET, Key: key, UploadId: uploadId }))),
    ).toEqual(gone);
    expect(
      await s3Error(
        s3.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId: uploadId })),
      ),
    ).toEqual(gone);
    // s3rver alone stored this part in a recreated folder and answered 200.
    expect(await s3Error(uploadPart(key, uploadId, 2, bytes(10, 2)))).toEqual(gone);
    expect(existsSync(path.join(uploadsDir, uploadId))).toBe(false);
  });
});

describe("UploadPart", () => {
  it("rejects a part number outside 1..10000 with 400 InvalidArgument", async () => {
    const key = "part-number/video.mp4";
    const uploadId = await create(key);
    for (const n of [0, 10_001]) {
      expect(await s3Error(uploadPart(key, uploadId, n, bytes(1, 1)))).toEqual({
        code: "InvalidArgument",
        status: 400,
      });
    }
    await uploadPart(key, uploadId, 10_000, bytes(1, 1));
  });
});

describe("ListMultipartUploads", () => {
  it("lists uploads in progress by key then initiation, with prefix, max-uploads and both markers", async () => {
    const before = Date.now();
    const a = await create("lmu/a");
    const b1 = await create("lmu/b");
    await sleep(5); // distinct initiation times
    const b2 = await create("lmu/b");
    await create("elsewhere/c");

    const list = (extra: { KeyMarker?: string; UploadIdMarker?: string } = {}) =>
      s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: "lmu/", MaxUploads: 2, ...extra }));
    const first = await list();
    expect(first.Uploads?.map((u) => [u.Key, u.UploadId])).toEqual([
      ["lmu/a", a],
      ["lmu/b", b1],
    ]);
    expect(first).toMatchObject({
      IsTruncated: true,
      NextKeyMarker: "lmu/b",
      NextUploadIdMarker: b1,
      MaxUploads: 2,
    });
    for (const upload of first.Uploads ?? []) {
      expect(upload.Initiated?.getTime()).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
      expect(upload.Initiated?.getTime()).toBeLessThanOrEqual(Date.now());
    }

    const second = await list({ KeyMarker: first.NextKeyMarker, UploadIdMarker: first.NextUploadIdMarker });
    expect(second.Uploads?.map((u) => [u.Key, u.UploadId])).toEqual([["lmu/b", b2]]);
    expect(second.IsTruncated).toBe(false);

    const afterKey = await list({ KeyMarker: "lmu/a" });
    expect(afterKey.Uploads?.map((u) => u.UploadId)).toEqual([b1, b2]);

    await s3.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: "lmu/a", UploadId: a }));
    const rest = await s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: "lmu/" }));
    expect(rest.Uploads?.map((u) => u.UploadId)).toEqual([b1, b2]);
  });

  it("groups keys under CommonPrefixes with a delimiter", async () => {
    await create("lmu-d/x/1");
    await create("lmu-d/x/2");
    const y = await create("lmu-d/y");
    const listed = await s3.send(
      new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: "lmu-d/", Delimiter: "/" }),
    );
    expect(listed.CommonPrefixes?.map((p) => p.Prefix)).toEqual(["lmu-d/x/"]);
    expect(listed.Uploads?.map((u) => u.UploadId)).toEqual([y]);
  });
});

describe("CompleteMultipartUpload", () => {
  const complete = (key: string, uploadId: string, parts: Array<{ PartNumber: number; ETag: string }>) =>
    s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: BUCKET,
        Key: key,
        UploadId: uploadId,
        MultipartUpload: { Parts: parts },
      }),
    );

  it("assembles a 5 MiB part and a small last part; the upload is gone afterwards", async () => {
    const key = "complete/ok.mp4";
    const uploadId = await create(key);
    const e1 = await uploadPart(key, uploadId, 1, bytes(5 * MiB, 1));
    const e2 = await uploadPart(key, uploadId, 2, bytes(3, 2));
    await complete(key, uploadId, [
      { PartNumber: 1, ETag: e1 },
      { PartNumber: 2, ETag: e2 },
    ]);
    const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    const body = await got.Body?.transformToByteArray();
    expect(body?.length).toBe(5 * MiB + 3);
    expect(body?.slice(-4)).toEqual(new Uint8Array([1, 2, 2, 2]));
    expect(
      await s3Error(s3.send(new ListPartsCommand({ Bucket: BUCKET, Key: key, UploadId: uploadId }))),
    ).toEqual({ code: "NoSuchUpload", status: 404 });
  });

  it("answers NoSuchUpload, InvalidPartOrder, InvalidPart and EntityTooSmall as S3 does, before assembling", async () => {
    const key = "complete/bad.mp4";
    expect(await s3Error(complete(key, "0123abcd", [{ PartNumber: 1, ETag: '"x"' }]))).toEqual({
      code: "NoSuchUpload",
      status: 404,
    });
    const uploadId = await create(key);
    const e1 = await uploadPart(key, uploadId, 1, bytes(5 * MiB, 1));
    const e2 = await uploadPart(key, uploadId, 2, bytes(10, 2));
    const e3 = await uploadPart(key, uploadId, 3, bytes(10, 3));

    const outOfOrder = [
      { PartNumber: 2, ETag: e2 },
      { PartNumber: 1, ETag: e1 },
    ];
    expect(await s3Error(complete(key, uploadId, outOfOrder))).toEqual({
      code: "InvalidPartOrder",
      status: 400,
    });
    const missing = [
      { PartNumber: 1, ETag: e1 },
      { PartNumber: 4, ETag: e3 },
    ];
    expect(await s3Error(complete(key, uploadId, missing))).toEqual({ code: "InvalidPart", status: 400 });
    const wrongEtag = [
      { PartNumber: 1, ETag: e1 },
      { PartNumber: 2, ETag: e3 },
    ];
    expect(await s3Error(complete(key, uploadId, wrongEtag))).toEqual({ code: "InvalidPart", status: 400 });
    const smallMiddle = [
      { PartNumber: 1, ETag: e1 },
      { PartNumber: 2, ETag: e2 },
      { PartNumber: 3, ETag: e3 },
    ];
    expect(await s3Error(complete(key, uploadId, smallMiddle))).toEqual({
      code: "EntityTooSmall",
      status: 400,
    });
    expect(await s3Error(complete("complete/other.mp4", uploadId, [{ PartNumber: 1, ETag: e1 }]))).toEqual({
      code: "NoSuchUpload",
      status: 404,
    });

    // Nothing was assembled and the upload still stands: a valid list completes it.
    expect(existsSync(path.join(uploadsDir, uploadId, "2"))).toBe(true);
    await complete(key, uploadId, [
      { PartNumber: 1, ETag: e1 },
      { PartNumber: 3, ETag: e3 },
    ]);
    const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    expect(got.ContentLength).toBe(5 * MiB + 10);
  });
});

describe("presigned URLs", () => {
  const errorCode = async (res: Response) => /<Code>([^<]+)<\/Code>/.exec(await res.text())?.[1];

  it("(s3rver itself) rejects a URL after its X-Amz-Expires with 403 AccessDenied 'Request has expired'", async () => {
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: BUCKET, Key: "expired" }), {
      expiresIn: 60,
      signingDate: new Date(Date.now() - 120_000),
    });
    const res = await fetch(url);
    expect(res.status).toBe(403);
    const text = await res.text();
    expect(text).toContain("<Code>AccessDenied</Code>");
    expect(text).toContain("Request has expired");
  });

  it("a presigned UploadPart signed with content-length accepts that length and rejects another", async () => {
    const key = "presigned/video.mp4";
    const uploadId = await create(key);
    const command = new UploadPartCommand({
      Bucket: BUCKET,
      Key: key,
      UploadId: uploadId,
      PartNumber: 1,
      ContentLength: 5,
    });
    const url = await getSignedUrl(s3, command, {
      expiresIn: 600,
      signableHeaders: new Set(["content-length"]),
    });
    expect(new URL(url).searchParams.get("X-Amz-SignedHeaders")).toBe("content-length;host");

    const longer = await fetch(url, { method: "PUT", body: bytes(6, 1) });
    expect(longer.status).toBe(403);
    expect(await errorCode(longer)).toBe("SignatureDoesNotMatch");
    expect(existsSync(path.join(uploadsDir, uploadId, "1"))).toBe(false);

    const exact = await fetch(url, { method: "PUT", body: bytes(5, 1) });
    expect(exact.status).toBe(200);
    const parts = await s3.send(new ListPartsCommand({ Bucket: BUCKET, Key: key, UploadId: uploadId }));
    expect(parts.Parts?.map((p) => [p.ETag, p.Size])).toEqual([[exact.headers.get("etag"), 5]]);
  });

  it("aws4fetch signs content-length only with allHeaders; then another length is SignatureDoesNotMatch", async () => {
    const aws = new AwsClient({
      accessKeyId: S3_ACCESS_KEY,
      secretAccessKey: S3_SECRET_KEY,
      region: "us-east-1",
    });
    const url = `${endpoint}/${BUCKET}/presigned/aws4fetch.bin`;
    const sign = async (allHeaders: boolean) =>
      (
        await aws.sign(url, {
          method: "PUT",
          headers: { "content-length": "4" },
          aws: { service: "s3", signQuery: true, allHeaders },
        })
      ).url;
    // Without allHeaders aws4fetch leaves content-length unsigned (it is in its UNSIGNABLE_HEADERS).
    expect(new URL(await sign(false)).searchParams.get("X-Amz-SignedHeaders")).toBe("host");
    const signed = await sign(true);
    expect(new URL(signed).searchParams.get("X-Amz-SignedHeaders")).toBe("content-length;host");
    const wrong = await fetch(signed, { method: "PUT", body: bytes(3, 1) });
    expect(wrong.status).toBe(403);
    expect(await errorCode(wrong)).toBe("SignatureDoesNotMatch");
    expect((await fetch(signed, { method: "PUT", body: bytes(4, 1) })).status).toBe(200);
  });

  it("rejects a URL signed with another secret or altered after signing", async () => {
    const wrongSecret = new S3Client({
      endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: S3_ACCESS_KEY, secretAccessKey: "not-the-secret" },
    });
    const bad = await getSignedUrl(wrongSecret, new PutObjectCommand({ Bucket: BUCKET, Key: "presigned/x" }));
    wrongSecret.destroy();
    const res = await fetch(bad, { method: "PUT", body: "x" });
    expect(res.status).toBe(403);
    expect(await errorCode(res)).toBe("SignatureDoesNotMatch");

    const good = new URL(
      await getSignedUrl(s3, new GetObjectCommand({ Bucket: BUCKET, Key: "presigned/x" })),
    );
    good.pathname = `/${BUCKET}/presigned/y`;
    const altered = await fetch(good);
    expect(altered.status).toBe(403);
    expect(await errorCode(altered)).toBe("SignatureDoesNotMatch");
  });

  it("the doctor's presigned round-trip (aws4fetch) and the stack's CORS rule pass against it", async () => {
    const report = await checkStorage(
      {
        endpoint,
        bucket: BUCKET,
        region: "us-east-1",
        accessKeyId: S3_ACCESS_KEY,
        secretAccessKey: S3_SECRET_KEY,
      },
      { origins: ["http://localhost:5173"], timeoutMs: 5000 },
    );
    expect(report.problems).toEqual([]);
    const preflight = await fetch(`${endpoint}/${BUCKET}/any?uploadId=1`, {
      method: "OPTIONS",
      headers: { Origin: "http://localhost:5173", "Access-Control-Request-Method": "DELETE" },
    });
    expect(preflight.status).toBe(200);
    expect(preflight.headers.get("access-control-allow-methods")).toContain("DELETE");
  });
});
