/**
 * The stack's local S3: s3rver 3.7.1 started programmatically, with one Koa middleware inserted just before
 * its router that adds what resumable multipart browser uploads need. It exists because s3rver 3.7.1 lacks
 * these routes and no maintained S3 replacement installs in CI (MinIO, Garage, SeaweedFS: none installs
 * from Debian or npm; see the team's STACK.md, "Local S3-compatible storage"). Requests pass through s3rver's own logger, XML encoder, error formatter, CORS and
 * authentication middleware; errors are s3rver's S3Error, so they have S3's XML shape and status codes.
 *
 * Added, after S3's documentation (API Reference: ListParts, AbortMultipartUpload, ListMultipartUploads,
 * UploadPart, CompleteMultipartUpload):
 * - ListParts (GET /bucket/key?uploadId): max-parts (default and cap 1000), part-number-marker,
 *   IsTruncated, NextPartNumberMarker; 404 NoSuchUpload when the upload is absent or belongs to another key.
 * - AbortMultipartUpload (DELETE /bucket/key?uploadId): 204, parts removed; 404 NoSuchUpload.
 * - ListMultipartUploads (GET /bucket?uploads): prefix, delimiter, max-uploads, key-marker,
 *   upload-id-marker. Initiated is the time this middleware writes into the upload's folder when it passes
 *   CreateMultipartUpload on; for an upload begun without it, the mtime of the `key` file, which s3rver
 *   writes once, at initiation, and never again.
 * - UploadPart: 404 NoSuchUpload for an absent upload (s3rver silently recreated its folder), 400
 *   InvalidArgument for a partNumber outside 1..10000.
 * - CompleteMultipartUpload is checked before s3rver assembles: NoSuchUpload, InvalidPartOrder, InvalidPart
 *   (missing part or ETag mismatch), EntityTooSmall (a part other than the last under 5 MiB).
 * - Presigned (query-string) SigV4 requests have their signature verified with the account's secret
 *   (403 SignatureDoesNotMatch), so a URL signed with content-length rejects another length. s3rver itself
 *   checks only their expiry (403 AccessDenied "Request has expired").
 *
 * Where it still departs from S3:
 * - Header-signed (Authorization) SigV4 requests are not verified (s3rver's behaviour), and no payload hash
 *   is checked against the body.
 * - A completed multipart object's ETag is the MD5 of the whole object, without S3's "-N" suffix.
 * - Uploads with the same key are listed in initiation order and upload-id-marker means "after this upload"
 *   in that order (S3 documents a lexicographic upload-id comparison); encoding-type is ignored; the
 *   Initiator and Owner are s3rver's dummy account; StorageClass is always STANDARD.
 * - Preflights (OPTIONS) and website-configured buckets are left entirely to s3rver.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";

const requireHere = createRequire(import.meta.url);
const s3rverMain = requireHere.resolve("s3rver");
const fromS3rver = createRequire(s3rverMain);
const S3rver = fromS3rver("./s3rver.js");
const S3Error: S3ErrorClass = fromS3rver("./models/error.js");
const AWSAccount = fromS3rver("./models/account.js");
const authentication: () => Middleware = fromS3rver("./middleware/authentication.js");
const cors: () => Middleware = fromS3rver("./middleware/cors.js");
const bucketCtrl = fromS3rver("./controllers/bucket.js");
const objectCtrl = fromS3rver("./controllers/object.js");
const xmlParser = fromS3rver("fast-xml-parser");
const he = fromS3rver("he");

type S3ErrorClass = new (code: string, message?: string, detail?: Record<string, unknown>) => Error;

/** The slice of Koa's context this middleware uses (s3rver ships no types). */
interface Ctx {
  method: string;
  path: string;
  query: Record<string, string | string[] | undefined>;
  req: NodeJS.ReadableStream & { url?: string; rawHeaders: string[] };
  params: Record<string, string>;
  status: number;
  body: unknown;
  app: { store: { getResourcePath(bucket: string, key: string | undefined, resource: string): string } };
  logger: { info(...args: unknown[]): void };
}
type Next = () => Promise<unknown>;
type Middleware = (ctx: Ctx, next: Next) => Promise<unknown>;

const XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/";
const MIN_PART_SIZE = 5 * 1024 * 1024;
const MAX_PART_NUMBER = 10_000;
const MAX_LIST = 1000;
/** Written by this middleware into the upload's folder when it initiates; a part's name is only digits. */
const INITIATED_FILE = "initiated";
const OBJECT_METHODS: string[] = [...new Set([...bucketCtrl.METHODS, ...objectCtrl.METHODS])];
const BUCKET_METHODS: string[] = bucketCtrl.METHODS;

const owner = () => ({ ID: AWSAccount.DUMMY_ACCOUNT.id, DisplayName: AWSAccount.DUMMY_ACCOUNT.displayName });

function noSuchUpload(uploadId: string) {
  return new S3Error(
    "NoSuchUpload",
    "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
    { UploadId: uploadId },
  );
}

function invalidArgument(name: string, value: string, message: string) {
  return new S3Error("InvalidArgument", message, { ArgumentName: name, ArgumentValue: value });
}

const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

/** Parses a non-negative integer query parameter as S3 does (InvalidArgument otherwise). */
function intParam(ctx: Ctx, name: string, fallback: number): number {
  const raw = one(ctx.query[name]);
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
    throw invalidArgument(name, raw, `Provided ${name} not an integer or within integer range`);
  }
  return Number(raw);
}

interface Upload {
  uploadId: string;
  key: string;
  initiated: Date;
  dir: string;
}

interface Part {
  number: number;
  etag: string;
  size: number;
  lastModified: Date;
}

async function readUpload(uploadsDir: string, uploadId: string): Promise<Upload | null> {
  if (!/^[A-Za-z0-9._-]+$/.test(uploadId) || uploadId.startsWith(".")) return null;
  const dir = path.join(uploadsDir, uploadId);
  try {
    const key = await readFile(path.join(dir, "key"), "utf8");
    const initiated = await readFile(path.join(dir, INITIATED_FILE), "utf8")
      .then((iso) => new Date(iso))
      .catch(async () => (await stat(path.join(dir, "key"))).mtime);
    return { uploadId, key, initiated, dir };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}

/** Completed parts only: s3rver writes a part's .md5 file once the part's body has been stored. */
async function readParts(dir: string): Promise<Part[]> {
  const names = (await readdir(dir)).filter((n) => /^\d+$/.test(n));
  const parts = await Promise.all(
    names.map(async (name): Promise<Part | null> => {
      try {
        const [md5, info] = await Promise.all([
          readFile(path.join(dir, `${name}.md5`), "utf8"),
          stat(path.join(dir, name)),
        ]);
        return { number: Number(name), etag: md5.trim(), size: info.size, lastModified: info.mtime };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
        throw err;
      }
    }),
  );
  return parts.filter((p): p is Part => p !== null).sort((a, b) => a.number - b.number);
}

async function listUploads(uploadsDir: string): Promise<Upload[]> {
  const ids = await readdir(uploadsDir).catch((err) => {
    if (err.code === "ENOENT") return [] as string[];
    throw err;
  });
  const uploads = await Promise.all(ids.map((id) => readUpload(uploadsDir, id)));
  return uploads
    .filter((u): u is Upload => u !== null)
    .sort(
      (a, b) =>
        compare(a.key, b.key) ||
        a.initiated.getTime() - b.initiated.getTime() ||
        compare(a.uploadId, b.uploadId),
    );
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

async function readBody(req: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

// --- presigned SigV4 verification ---------------------------------------------------------------

const rfc3986 = (s: string) =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

function safeDecode(s: string) {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

const hmac = (key: string | Buffer, data: string) => createHmac("sha256", key).update(data, "utf8").digest();

/**
 * Verifies a query-string SigV4 signature (S3's presigned URLs) with the account's secret, after s3rver's
 * own authentication has checked the parameters' presence, the access key and the expiry.
 */
function verifyPresignedSignature(ctx: Ctx) {
  const url = ctx.req.url ?? "/";
  const q = url.indexOf("?");
  const rawPath = q === -1 ? url : url.slice(0, q);
  const params = [...new URLSearchParams(q === -1 ? "" : url.slice(q + 1))];
  const get = (name: string) => params.find(([k]) => k === name)?.[1] ?? "";
  const credential = get("X-Amz-Credential");
  const [accessKeyId = "", ...scopeParts] = credential.split("/");
  const scope = scopeParts.join("/");
  const [date = "", region = "", service = ""] = scopeParts;
  const secret: string | undefined = AWSAccount.registry.get(accessKeyId)?.accessKeys.get(accessKeyId);
  if (secret === undefined) return; // s3rver's authentication has already answered InvalidAccessKeyId

  const signedHeaders = get("X-Amz-SignedHeaders");
  const headerValues = new Map<string, string[]>();
  const raw = ctx.req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    headerValues.set(name, [
      ...(headerValues.get(name) ?? []),
      (raw[i + 1] as string).trim().replace(/\s+/g, " "),
    ]);
  }
  const canonicalHeaders = signedHeaders
    .split(";")
    .map((h) => `${h}:${(headerValues.get(h) ?? []).join(",")}\n`)
    .join("");
  const canonicalQuery = params
    .filter(([k]) => k !== "X-Amz-Signature")
    .map(([k, v]) => [rfc3986(k), rfc3986(v)] as const)
    .sort(([k1, v1], [k2, v2]) => compare(k1, k2) || compare(v1, v2))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  const canonicalUri = rawPath
    .split("/")
    .map((segment) => rfc3986(safeDecode(segment)))
    .join("/");
  const canonicalRequest = [
    ctx.method,
    canonicalUri,
    canonicalQuery,
    canonicalHeaders,
    signedHeaders,
    get("X-Amz-Content-Sha256") || "UNSIGNED-PAYLOAD",
  ].join("\n");
  const stringToSign = [
    "AWS4-HMAC-SHA256",
    get("X-Amz-Date"),
    scope,
    createHash("sha256").update(canonicalRequest, "utf8").digest("hex"),
  ].join("\n");
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), "aws4_request");
  const expected = hmac(signingKey, stringToSign);
  const provided = Buffer.from(get("X-Amz-Signature"), "hex");
  if (provided.length !== expected.length || !timingSafeEqual(provided, expected)) {
    throw new S3Error(
      "SignatureDoesNotMatch",
      "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
      {
        AWSAccessKeyId: accessKeyId,
        StringToSign: stringToSign,
        SignatureProvided: get("X-Amz-Signature"),
        CanonicalRequest: canonicalRequest,
      },
    );
  }
}

// --- the operations ------------------------------------------------------------------------------

/** ListParts: https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListParts.html */
async function listParts(ctx: Ctx, upload: Upload) {
  const maxParts = Math.min(intParam(ctx, "max-parts", MAX_LIST), MAX_LIST);
  const marker = intParam(ctx, "part-number-marker", 0);
  const after = (await readParts(upload.dir)).filter((p) => p.number > marker);
  const parts = after.slice(0, maxParts);
  const isTruncated = after.length > parts.length;
  ctx.body = {
    ListPartsResult: {
      "@": { xmlns: XMLNS },
      Bucket: ctx.params.bucket,
      Key: upload.key,
      UploadId: upload.uploadId,
      Initiator: owner(),
      Owner: owner(),
      StorageClass: "STANDARD",
      PartNumberMarker: marker,
      NextPartNumberMarker: parts.at(-1)?.number ?? 0,
      MaxParts: maxParts,
      IsTruncated: isTruncated,
      Part: parts.map((p) => ({
        PartNumber: p.number,
        LastModified: p.lastModified.toISOString(),
        ETag: JSON.stringify(p.etag),
        Size: p.size,
      })),
    },
  };
}

/** AbortMultipartUpload: https://docs.aws.amazon.com/AmazonS3/latest/API/API_AbortMultipartUpload.html */
async function abortUpload(ctx: Ctx, upload: Upload) {
  await rm(upload.dir, { recursive: true, force: true });
  ctx.logger.info('Aborted upload %s of "%s"', upload.uploadId, upload.key);
  ctx.status = 204;
  ctx.body = null;
}

/** ListMultipartUploads: https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListMultipartUploads.html */
async function listMultipartUploads(ctx: Ctx, uploadsDir: string) {
  const prefix = one(ctx.query.prefix) ?? "";
  const delimiter = one(ctx.query.delimiter) ?? "";
  const keyMarker = one(ctx.query["key-marker"]) ?? "";
  // S3 ignores upload-id-marker without key-marker.
  const uploadIdMarker = keyMarker ? (one(ctx.query["upload-id-marker"]) ?? "") : "";
  const maxUploads = Math.min(intParam(ctx, "max-uploads", MAX_LIST), MAX_LIST);

  const all = (await listUploads(uploadsDir)).filter((u) => u.key.startsWith(prefix));
  const markerIndex = uploadIdMarker
    ? all.findIndex((u) => u.key === keyMarker && u.uploadId === uploadIdMarker)
    : -1;
  const remaining = all.filter((u, i) => {
    if (u.key > keyMarker) return true;
    if (u.key < keyMarker || !uploadIdMarker) return false;
    return markerIndex === -1 ? u.uploadId > uploadIdMarker : i > markerIndex;
  });

  const entries: Array<{ upload: Upload } | { prefix: string }> = [];
  const seenPrefixes = new Set<string>();
  let isTruncated = false;
  for (const upload of remaining) {
    const cut = delimiter ? upload.key.indexOf(delimiter, prefix.length) : -1;
    const commonPrefix = cut === -1 ? null : upload.key.slice(0, cut + delimiter.length);
    if (commonPrefix !== null && seenPrefixes.has(commonPrefix)) continue;
    if (commonPrefix !== null && keyMarker.startsWith(commonPrefix)) continue; // listed on an earlier page
    if (entries.length === maxUploads) {
      isTruncated = true;
      break;
    }
    if (commonPrefix === null) entries.push({ upload });
    else {
      seenPrefixes.add(commonPrefix);
      entries.push({ prefix: commonPrefix });
    }
  }
  const last = entries.at(-1);
  const uploads = entries.flatMap((e) => ("upload" in e ? [e.upload] : []));
  ctx.body = {
    ListMultipartUploadsResult: {
      "@": { xmlns: XMLNS },
      Bucket: ctx.params.bucket,
      KeyMarker: keyMarker,
      UploadIdMarker: uploadIdMarker,
      NextKeyMarker: last ? ("upload" in last ? last.upload.key : last.prefix) : "",
      NextUploadIdMarker: last && "upload" in last ? last.upload.uploadId : "",
      Prefix: prefix || undefined,
      Delimiter: delimiter || undefined,
      MaxUploads: maxUploads,
      IsTruncated: isTruncated,
      Upload: uploads.map((u) => ({
        Key: u.key,
        UploadId: u.uploadId,
        Initiator: owner(),
        Owner: owner(),
        StorageClass: "STANDARD",
        Initiated: u.initiated.toISOString(),
      })),
      CommonPrefixes: [...seenPrefixes].map((p) => ({ Prefix: p })),
    },
  };
}

function checkPartNumber(ctx: Ctx) {
  const raw = one(ctx.query.partNumber) ?? "";
  const n = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(n >= 1 && n <= MAX_PART_NUMBER)) {
    throw invalidArgument("partNumber", raw, "Part number must be an integer between 1 and 10000, inclusive");
  }
}

/** CompleteMultipartUpload's checks: https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html */
async function checkCompletion(ctx: Ctx, upload: Upload) {
  const body = await readBody(ctx.req);
  // s3rver's handler reads the body again; malformed XML is left for it to answer (MalformedXML).
  ctx.req = Object.assign(Readable.from([body]), { url: ctx.req.url, rawHeaders: ctx.req.rawHeaders });
  const xml = body.toString("utf8");
  if (xmlParser.validate(xml) !== true) return;
  const parsed = xmlParser.parse(xml, { tagValueProcessor: (a: string) => he.decode(a) });
  const listed = parsed?.CompleteMultipartUpload?.Part;
  if (!listed) return;
  const requested = ([] as Array<{ PartNumber?: unknown; ETag?: unknown }>).concat(listed);
  if (requested.some((p) => p.PartNumber === undefined || p.ETag === undefined)) {
    throw new S3Error(
      "MalformedXML",
      "The XML you provided was not well-formed or did not validate against our published schema.",
    );
  }
  const numbers = requested.map((p) => Number(p.PartNumber));
  if (numbers.some((n, i) => i > 0 && !(n > (numbers[i - 1] as number)))) {
    throw new S3Error(
      "InvalidPartOrder",
      "The list of parts was not in ascending order. The parts list must be specified in order by part number.",
      { UploadId: upload.uploadId },
    );
  }
  const stored = new Map((await readParts(upload.dir)).map((p) => [p.number, p]));
  requested.forEach((p, i) => {
    const part = stored.get(Number(p.PartNumber));
    const etag = String(p.ETag).replace(/"/g, "");
    if (!part || part.etag.toLowerCase() !== etag.toLowerCase()) {
      throw new S3Error(
        "InvalidPart",
        "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
        { UploadId: upload.uploadId, PartNumber: String(p.PartNumber), ETag: String(p.ETag) },
      );
    }
    if (i < requested.length - 1 && part.size < MIN_PART_SIZE) {
      throw new S3Error(
        "EntityTooSmall",
        "Your proposed upload is smaller than the minimum allowed object size.",
        {
          UploadId: upload.uploadId,
          PartNumber: part.number,
          ProposedSize: part.size,
          MinSizeAllowed: MIN_PART_SIZE,
          ETag: JSON.stringify(part.etag),
        },
      );
    }
  });
}

// --- the middleware ------------------------------------------------------------------------------

type Operation =
  | "ListParts"
  | "AbortMultipartUpload"
  | "ListMultipartUploads"
  | "UploadPart"
  | "CompleteMultipartUpload"
  | "CreateMultipartUpload";

function operationOf(ctx: Ctx, hasKey: boolean): Operation | null {
  const methods = (hasKey ? OBJECT_METHODS : BUCKET_METHODS).filter((m) => m in ctx.query);
  if (methods.length !== 1) return null; // none of ours, or s3rver's "Conflicting query string parameters"
  const [m] = methods;
  if (!hasKey) return ctx.method === "GET" && m === "uploads" ? "ListMultipartUploads" : null;
  if (m === "uploads") return ctx.method === "POST" ? "CreateMultipartUpload" : null;
  if (m !== "uploadId") return null;
  const byMethod: Record<string, Operation> = {
    GET: "ListParts",
    DELETE: "AbortMultipartUpload",
    PUT: "UploadPart",
    POST: "CompleteMultipartUpload",
  };
  return byMethod[ctx.method] ?? null;
}

/** Chains Koa-style middleware by hand (s3rver's router is not ours to add routes to). */
function chain(ctx: Ctx, steps: Middleware[], last: Next): Promise<unknown> {
  const at = (i: number): Promise<unknown> => {
    const step = steps[i];
    return step ? step(ctx, () => at(i + 1)) : last();
  };
  return at(0);
}

/** The multipart operations s3rver lacks, and presigned-signature checks, ahead of s3rver's router. */
export function multipartMiddleware(): Middleware {
  const steps = { cors: cors(), authentication: authentication() };
  return async function multipart(ctx, next) {
    if (ctx.method === "OPTIONS") return next();
    const match = /^\/([^/]+)(?:\/(.*))?$/.exec(ctx.path); // "/bucket/" is the bucket (SDK clients add the slash)
    if (!match) return next();
    const bucket = safeDecode(match[1] as string);
    const key = match[2] ? safeDecode(match[2]) : undefined;
    const operation = operationOf(ctx, key !== undefined);
    const presigned = "X-Amz-Algorithm" in ctx.query;
    if (!operation && !presigned) return next();

    ctx.params = { ...ctx.params, bucket, ...(key === undefined ? {} : { key }) };
    const checkSignature: Middleware = async (c, n) => {
      if (presigned) verifyPresignedSignature(c);
      return n();
    };
    const before = [steps.cors, steps.authentication, checkSignature];
    if (!operation) return chain(ctx, before, next);

    const uploadsDir = ctx.app.store.getResourcePath(bucket, undefined, "uploads");
    const uploadId = one(ctx.query.uploadId) ?? "";
    const findUpload = async () => {
      const upload = await readUpload(uploadsDir, uploadId);
      if (!upload || upload.key !== key) throw noSuchUpload(uploadId);
      return upload;
    };
    return chain(ctx, [...before, bucketCtrl.bucketExists], async () => {
      switch (operation) {
        case "ListParts":
          return listParts(ctx, await findUpload());
        case "AbortMultipartUpload":
          return abortUpload(ctx, await findUpload());
        case "ListMultipartUploads":
          return listMultipartUploads(ctx, uploadsDir);
        case "UploadPart":
          checkPartNumber(ctx);
          await findUpload();
          return next();
        case "CompleteMultipartUpload":
          await checkCompletion(ctx, await findUpload());
          return next();
        case "CreateMultipartUpload": {
          const initiated = new Date();
          await next();
          const id = (ctx.body as { InitiateMultipartUploadResult?: { UploadId?: string } } | null)
            ?.InitiateMultipartUploadResult?.UploadId;
          if (id) await writeFile(path.join(uploadsDir, id, INITIATED_FILE), initiated.toISOString());
          return;
        }
      }
    });
  };
}

export interface S3ServerOptions {
  directory: string;
  address?: string;
  /** 0 picks a free port. */
  port?: number;
  silent?: boolean;
  /** Buckets created at start, each with configuration XML documents (CORS, website). */
  buckets?: Array<{ name: string; configs: Array<string | Buffer> }>;
}

/** Starts s3rver with the multipart middleware; resolves once it listens. */
export async function startS3Server(opts: S3ServerOptions) {
  mkdirSync(opts.directory, { recursive: true });
  const app = new S3rver({
    directory: opts.directory,
    address: opts.address ?? "127.0.0.1",
    port: opts.port ?? 0,
    silent: opts.silent ?? false,
    configureBuckets: opts.buckets ?? [],
  });
  const middleware: Array<Middleware & { router?: unknown }> = app.middleware;
  const routerAt = middleware.findIndex((fn) => fn.router !== undefined);
  if (routerAt === -1) throw new Error("s3rver's router middleware was not found (s3rver version changed?)");
  middleware.splice(routerAt, 0, multipartMiddleware());
  const { address, port } = (await app.run()) as { address: string; port: number };
  return { address, port, close: (): Promise<void> => app.close() };
}

function parseCli(argv: string[]): S3ServerOptions {
  const opts: S3ServerOptions = { directory: "", buckets: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === "-d" || arg === "--directory") opts.directory = value();
    else if (arg === "-a" || arg === "--address") opts.address = value();
    else if (arg === "-p" || arg === "--port") opts.port = Number(value());
    else if (arg === "-s" || arg === "--silent") opts.silent = true;
    else if (arg === "--configure-bucket") {
      const name = value();
      const configs: Buffer[] = [];
      while (i + 1 < argv.length && !(argv[i + 1] as string).startsWith("-")) {
        configs.push(readFileSync(argv[++i] as string));
      }
      opts.buckets?.push({ name, configs });
    } else throw new Error(`unknown argument ${arg}`);
  }
  if (!opts.directory)
    throw new Error(
      "usage: s3-server -d <dir> [-a address] [-p port] [--silent] [--configure-bucket name config.xml...]",
    );
  return opts;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  startS3Server(parseCli(process.argv.slice(2))).then(
    ({ address, port }) => console.log(`S3rver listening on ${address}:${port}`),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
