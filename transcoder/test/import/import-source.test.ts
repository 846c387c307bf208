import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ListMultipartUploadsCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startS3Server } from "../../../scripts/stack/s3-server.ts";
import { StorageError } from "../../src/errors.ts";
import {
  ImportError,
  type ImportOptions,
  importSource,
  parseAllowedAddresses,
  type Resolver,
  storageSink,
} from "../../src/import/import-source.ts";
import { createS3Client, createStorage, type StorageConfig } from "../../src/storage.ts";

const MiB = 1024 * 1024;
const LOOPBACK_ALLOWED = { allowed: parseAllowedAddresses("127.0.0.1/32") };
const body = randomBytes(300 * 1024 + 7);

/**
 * The source server: one route per behaviour under test; `hits` counts requests per path, `streamed`
 * how many bytes /endless?id=… wrote before its response closed.
 */
function sourceHandler(hits: Map<string, number>, streamed: Map<string, number>) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://source");
    hits.set(url.pathname, (hits.get(url.pathname) ?? 0) + 1);
    const hop = /^\/hop\/(\d+)$/.exec(url.pathname);
    if (hop) {
      // /hop/N redirects N more times before landing on /ok.
      const left = Number(hop[1]);
      res.writeHead(302, { location: left > 1 ? `/hop/${left - 1}` : "/ok" }).end();
      return;
    }
    switch (url.pathname) {
      case "/ok":
        res.writeHead(200, { "content-type": "video/mp4; charset=binary", "content-length": body.length });
        res.end(body);
        return;
      case "/chunked-ok":
        res.writeHead(200, { "content-type": "video/webm" });
        res.write(body.subarray(0, 1000));
        res.end(body.subarray(1000));
        return;
      case "/missing":
        res.writeHead(404).end("nothing here, says the server in its own words");
        return;
      case "/unavailable":
        res.writeHead(503).end();
        return;
      case "/declared-huge":
        // Declares far more than the limit; sends a little and waits (an importer reading on would stall).
        res.writeHead(200, { "content-length": String(60 * 1e9) });
        res.write(randomBytes(1024));
        return;
      case "/endless": // chunked, no length: 64 KiB at a time while the client reads, up to 40 MiB
        void streamFor(res, 40 * MiB).then((sent) => streamed.set(url.searchParams.get("id") ?? "", sent));
        return;
      case "/trickle": {
        // A byte every 100 ms, forever: never idle, never done.
        res.writeHead(200, { "content-type": "video/mp4" });
        const timer = setInterval(() => res.write("x"), 100);
        res.on("close", () => clearInterval(timer));
        return;
      }
      case "/stall":
        res.writeHead(200, { "content-length": "1000" });
        res.write(randomBytes(10));
        return;
      case "/hang": // accepts the request and never answers
        return;
      case "/cut":
        res.writeHead(200, { "content-length": "1000" });
        res.write(randomBytes(500), () => res.socket?.destroy());
        return;
      case "/to-private":
        res.writeHead(302, { location: "http://10.0.0.1/video.mp4" }).end();
        return;
      case "/to-metadata":
        res.writeHead(301, { location: "http://169.254.169.254/latest/meta-data/iam/" }).end();
        return;
      case "/to-mapped":
        res.writeHead(307, { location: "http://[::ffff:10.0.0.1]/video.mp4" }).end();
        return;
      case "/to-ftp":
        res.writeHead(302, { location: "ftp://example.com/video.mp4" }).end();
        return;
      case "/to-file":
        res.writeHead(302, { location: "file:///etc/passwd" }).end();
        return;
      case "/to-internal-name":
        res.writeHead(302, { location: `http://internal.example.test:${req.socket.localPort}/ok` }).end();
        return;
      case "/nowhere":
        res.writeHead(302).end();
        return;
      default:
        res.writeHead(500).end();
    }
  };
}

/** Writes `total` random bytes in 64 KiB chunks (chunked encoding), honouring backpressure. */
async function streamFor(res: ServerResponse, total: number): Promise<number> {
  res.writeHead(200, { "content-type": "video/mp4" });
  const chunk = randomBytes(64 * 1024);
  let sent = 0;
  for (; sent < total && !res.destroyed; sent += chunk.length) {
    if (!res.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off("drain", done).off("close", done);
          resolve();
        };
        res.on("drain", done).on("close", done);
      });
    }
  }
  res.end();
  return sent;
}

/**
 * A proxy in front of s3rver that records each request ("POST /bucket/key?uploads"…) and each answer
 * ("200 POST /bucket/key?uploads"…), and answers 500 to the second part of any key under imports/failing/.
 */
function recordingProxy(target: string, log: string[]): Server {
  const { port } = new URL(target);
  return createServer((req, res) => {
    log.push(`${req.method} ${req.url}`);
    if (req.url?.includes("/imports/failing/") && req.url.includes("partNumber=2")) {
      req.resume();
      res.writeHead(500, { "content-type": "application/xml" });
      res.end("<Error><Code>InternalError</Code><Message>injected</Message></Error>");
      return;
    }
    const upstream = request(
      { host: "127.0.0.1", port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        log.push(`${up.statusCode} ${req.method} ${req.url}`);
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

/**
 * Against the stack's local S3 (s3rver with the multipart routes it lacks, AbortMultipartUpload and
 * ListMultipartUploads among them), so an aborted upload shows as gone, not merely requested.
 */
describe("importSource against a local server and s3rver", () => {
  let dir: string;
  let s3: Awaited<ReturnType<typeof startS3Server>>;
  let config: StorageConfig;
  let source: Server;
  let proxy: Server;
  let origin: string;
  const hits = new Map<string, number>();
  const s3Log: string[] = [];
  const streamed = new Map<string, number>();
  let storage: ReturnType<typeof createStorage>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "streamlet-import-s3-"));
    const bucket = "streamlet-import-test";
    s3 = await startS3Server({ directory: dir, silent: true, buckets: [{ name: bucket, configs: [] }] });
    const endpoint = `http://127.0.0.1:${s3.port}`;
    config = { endpoint, bucket, region: "us-east-1", accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };
    proxy = recordingProxy(endpoint, s3Log);
    const proxyPort = await listen(proxy);
    // 5-MiB parts (S3's smallest), so the 40-MiB stream is a multipart upload long before the limit.
    storage = createStorage(
      { ...config, endpoint: `http://127.0.0.1:${proxyPort}` },
      { partSizeBytes: 5 * MiB },
    );
    source = createServer(sourceHandler(hits, streamed));
    origin = `http://127.0.0.1:${await listen(source)}`;
  });
  afterAll(async () => {
    source.closeAllConnections();
    await new Promise((r) => source.close(r));
    proxy.closeAllConnections();
    await new Promise((r) => proxy.close(r));
    await s3.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs an import into a fresh key; returns the key with the outcome. */
  async function run(url: string, overrides: Partial<ImportOptions> = {}, folder = "imports") {
    const key = `${folder}/${randomUUID()}/source`;
    const options: ImportOptions = {
      url,
      limits: { maxBytes: 12 * MiB, timeoutMs: 10_000, idleTimeoutMs: 5_000 },
      policy: LOOPBACK_ALLOWED,
      sink: storageSink(storage, key),
      ...overrides,
    };
    const started = Date.now();
    try {
      const result = await importSource(options);
      return { key, result, error: undefined, ms: Date.now() - started };
    } catch (error) {
      return { key, result: undefined, error: error as ImportError, ms: Date.now() - started };
    }
  }

  /** The outcome must be an ImportError with this code; returns it. */
  function failed(outcome: { error: unknown }, code: string): ImportError {
    expect(outcome.error).toBeInstanceOf(ImportError);
    expect((outcome.error as ImportError).code).toBe(code);
    return outcome.error as ImportError;
  }

  const stored = (key: string) => fetch(`${config.endpoint}/${config.bucket}/${key}`);

  /** No object under the key, and no multipart upload left open for it (its parts removed). */
  async function nothingStored(key: string) {
    expect((await stored(key)).status).toBe(404);
    const { Uploads } = await createS3Client(config).send(
      new ListMultipartUploadsCommand({ Bucket: config.bucket, Prefix: key }),
    );
    expect(Uploads ?? []).toEqual([]);
  }

  it("stores the body byte-exact with its media type, reporting progress", async () => {
    const progress: [number, number | null][] = [];
    const outcome = await run(`${origin}/ok`, { onProgress: (b, t) => progress.push([b, t]) });
    expect(outcome.error).toBeUndefined();
    expect(outcome.result).toEqual({ bytes: body.length, contentType: "video/mp4" });
    const object = await stored(outcome.key);
    expect(object.headers.get("content-type")).toBe("video/mp4");
    expect(Buffer.from(await object.arrayBuffer()).equals(body)).toBe(true);
    expect(progress[0]).toEqual([0, body.length]);
    expect(progress.at(-1)).toEqual([body.length, body.length]);
  });

  it("stores a chunked body without a length", async () => {
    const outcome = await run(`${origin}/chunked-ok`);
    expect(outcome.result).toEqual({ bytes: body.length, contentType: "video/webm" });
    expect(Buffer.from(await (await stored(outcome.key)).arrayBuffer()).equals(body)).toBe(true);
  });

  it("refuses loopback without the allow-list, before sending anything", async () => {
    const before = hits.get("/ok") ?? 0;
    const outcome = await run(`${origin}/ok`, { policy: undefined });
    const err = failed(outcome, "url_forbidden");
    expect(err.transient).toBe(false);
    expect(err.message).toBe("the URL points to a loopback address (127.0.0.1), which is not allowed");
    expect(hits.get("/ok") ?? 0).toBe(before);
    await nothingStored(outcome.key);
  });

  it("refuses an IPv4-mapped IPv6 form of loopback", async () => {
    const port = new URL(origin).port;
    const outcome = await run(`http://[::ffff:127.0.0.1]:${port}/ok`, { policy: undefined });
    expect(failed(outcome, "url_forbidden").message).toMatch(/loopback address \(127\.0\.0\.1\)/);
  });

  it("refuses a host name that resolves to loopback (localhost, system DNS)", async () => {
    const port = new URL(origin).port;
    const outcome = await run(`http://localhost:${port}/ok`, { policy: undefined });
    expect(failed(outcome, "url_forbidden").message).toBe(
      "the URL's host localhost resolves to a loopback address, which is not allowed",
    );
  });

  it("refuses a host name when any one of its addresses is private", async () => {
    const resolve: Resolver = async () => [
      { address: "93.184.216.34", family: 4 },
      { address: "10.0.0.5", family: 4 },
    ];
    const outcome = await run("http://cdn.example.test/video.mp4", { resolve });
    const err = failed(outcome, "url_forbidden");
    expect(err.message).toBe(
      "the URL's host cdn.example.test resolves to a private address, which is not allowed",
    );
    expect(err.detail).toContain("10.0.0.5");
  });

  it("connects to the address it checked, not to a second DNS answer (rebinding)", async () => {
    // Only this resolver knows the name; its second answer would be private. The import asks it once
    // per hop and connects to that answer: without the pinned lookup, the connection would ask the
    // system's DNS (which has never heard of the name) and fail.
    const asked: string[] = [];
    const resolve: Resolver = async (hostname) => {
      asked.push(hostname);
      return [{ address: asked.length === 1 ? "127.0.0.1" : "10.0.0.1", family: 4 }];
    };
    const port = new URL(origin).port;
    const outcome = await run(`http://media.example.test:${port}/ok`, { resolve });
    expect(outcome.error).toBeUndefined();
    expect(outcome.result?.bytes).toBe(body.length);
    expect(asked).toEqual(["media.example.test"]);
  });

  it("fails clearly on 404, permanently", async () => {
    const outcome = await run(`${origin}/missing`);
    const err = failed(outcome, "url_not_found");
    expect(err.message).toBe("the URL answered 404 Not Found");
    expect(err.transient).toBe(false);
    await nothingStored(outcome.key);
  });

  it("fails on 503, transiently", async () => {
    const err = failed(await run(`${origin}/unavailable`), "http_status");
    expect(err.message).toBe("the URL answered 503 Service Unavailable");
    expect(err.transient).toBe(true);
  });

  it("refuses a declared Content-Length above the limit before reading the body", async () => {
    const logged = s3Log.length;
    const outcome = await run(`${origin}/declared-huge`, {
      limits: { maxBytes: 50 * 1e9, timeoutMs: 10_000 },
    });
    const err = failed(outcome, "too_large");
    expect(err.message).toBe("the file is 60 GB, larger than the 50 GB limit");
    expect(err.transient).toBe(false);
    expect(s3Log.slice(logged).filter((l) => l.includes(outcome.key))).toEqual([]);
    await nothingStored(outcome.key);
  });

  it("aborts a chunked body that grows past the limit, and the multipart upload with it", async () => {
    const outcome = await run(`${origin}/endless`);
    const err = failed(outcome, "too_large");
    expect(err.message).toBe("the file is larger than the 12.6 MB limit");
    const requests = s3Log.filter((l) => l.includes(outcome.key));
    // Parts went up (it was a multipart upload), then the upload was aborted, never completed.
    expect(requests.some((l) => l.startsWith("POST") && l.includes("?uploads"))).toBe(true);
    expect(requests.some((l) => l.startsWith("200 PUT") && l.includes("partNumber="))).toBe(true);
    expect(requests.some((l) => l.startsWith("204 DELETE") && l.includes("uploadId="))).toBe(true);
    expect(requests.some((l) => l.startsWith("POST") && l.includes("uploadId="))).toBe(false);
    await nothingStored(outcome.key);
  });

  it("stops reading the source as soon as storage fails, and aborts the upload", async () => {
    const id = randomUUID();
    const limits = { maxBytes: 100 * MiB, timeoutMs: 10_000 };
    const outcome = await run(`${origin}/endless?id=${id}`, { limits }, "imports/failing");
    expect(outcome.error).toBeInstanceOf(StorageError);
    expect((outcome.error as unknown as StorageError).transient).toBe(true);
    await vi.waitFor(() => expect(streamed.has(id)).toBe(true));
    // Part 2 failed at about 10 MiB: the rest of the 40 MiB was never downloaded.
    expect(streamed.get(id)).toBeLessThan(30 * MiB);
    const requests = s3Log.filter((l) => l.includes(outcome.key));
    expect(requests.some((l) => l.startsWith("204 DELETE") && l.includes("uploadId="))).toBe(true);
    await nothingStored(outcome.key);
  });

  it("follows up to 5 redirects", async () => {
    const outcome = await run(`${origin}/hop/5`);
    expect(outcome.error).toBeUndefined();
    expect(outcome.result?.bytes).toBe(body.length);
  });

  it("refuses a sixth redirect", async () => {
    const err = failed(await run(`${origin}/hop/6`), "too_many_redirects");
    expect(err.message).toBe("the URL redirects more than 5 times");
  });

  it.each([
    ["/to-private", "the URL redirects to a private address (10.0.0.1), which is not allowed"],
    ["/to-metadata", "the URL redirects to a cloud metadata address (169.254.169.254), which is not allowed"],
    ["/to-mapped", "the URL redirects to a private address (10.0.0.1), which is not allowed"],
  ])("refuses a redirect to a forbidden address (%s) before connecting", async (path, message) => {
    // 10.0.0.1 and 169.254.169.254 answer nothing here: a connection attempt would time out (5 s) or
    // fail as unreachable, not be refused at once.
    const outcome = await run(`${origin}${path}`);
    expect(failed(outcome, "url_forbidden").message).toBe(message);
    expect(outcome.ms).toBeLessThan(1000);
  });

  it("refuses a redirect to a name that resolves to a private address", async () => {
    const resolve: Resolver = async () => [{ address: "192.168.0.10", family: 4 }];
    const outcome = await run(`${origin}/to-internal-name`, { resolve });
    expect(failed(outcome, "url_forbidden").message).toBe(
      "the URL redirects to internal.example.test, a host that resolves to a private address, which is not allowed",
    );
  });

  it.each([
    ["ftp://127.0.0.1/video.mp4", "only http and https URLs can be imported, not ftp: URLs"],
    ["file:///etc/passwd", "only http and https URLs can be imported, not file: URLs"],
    [
      "http://127.0.0.1:PORT/to-ftp",
      "the URL redirects to a URL of another scheme (ftp:); only http and https URLs can be imported",
    ],
    [
      "http://127.0.0.1:PORT/to-file",
      "the URL redirects to a URL of another scheme (file:); only http and https URLs can be imported",
    ],
  ])("refuses other schemes: %s", async (url, message) => {
    const outcome = await run(url.replace("PORT", new URL(origin).port));
    expect(failed(outcome, "unsupported_scheme").message).toBe(message);
  });

  it("refuses credentials in the URL", async () => {
    const err = failed(await run(origin.replace("http://", "http://user:pw@")), "invalid_url");
    expect(err.message).toBe("URLs with a user name or password are not accepted");
  });

  it("fails a redirect without a Location", async () => {
    const err = failed(await run(`${origin}/nowhere`), "http_status");
    expect(err.message).toBe("the URL answered 302 Found without saying where to go");
  });

  it("stops at the overall deadline, within a second of it, and stores nothing", async () => {
    const outcome = await run(`${origin}/trickle`, {
      limits: { maxBytes: 12 * MiB, timeoutMs: 1000, idleTimeoutMs: 5000 },
    });
    const err = failed(outcome, "timeout");
    expect(err.message).toBe("the download did not finish within the 1 s limit");
    expect(err.transient).toBe(false);
    expect(outcome.ms).toBeGreaterThanOrEqual(950);
    expect(outcome.ms).toBeLessThan(2000);
    await nothingStored(outcome.key);
  });

  it("stops a body that goes silent (idle timeout), transiently", async () => {
    const outcome = await run(`${origin}/stall`, {
      limits: { maxBytes: 12 * MiB, timeoutMs: 10_000, idleTimeoutMs: 300 },
    });
    const err = failed(outcome, "timeout");
    expect(err.message).toBe("the server 127.0.0.1 stopped sending data for 0.3 s");
    expect(err.transient).toBe(true);
    expect(outcome.ms).toBeLessThan(2000);
  });

  it("stops a server that never answers (idle timeout before the headers)", async () => {
    const outcome = await run(`${origin}/hang`, {
      limits: { maxBytes: 12 * MiB, timeoutMs: 10_000, idleTimeoutMs: 300 },
    });
    const err = failed(outcome, "timeout");
    expect(err.message).toBe("the server 127.0.0.1 did not answer within 0.3 s");
    expect(outcome.ms).toBeLessThan(2000);
  });

  it("fails a cut connection transiently, saying how far it got", async () => {
    const err = failed(await run(`${origin}/cut`), "unreachable");
    expect(err.message).toBe("the connection to 127.0.0.1 was cut after 500 bytes");
    expect(err.transient).toBe(true);
  });

  it("fails a refused connection transiently", async () => {
    const closed = createServer();
    const port = await listen(closed);
    await new Promise((r) => closed.close(r));
    const err = failed(await run(`http://127.0.0.1:${port}/ok`), "unreachable");
    expect(err.message).toBe("the server 127.0.0.1 refused the connection");
    expect(err.transient).toBe(true);
  });

  it("rejects with the caller's reason when aborted, and stores nothing", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("job cancelled")), 300);
    const outcome = await run(`${origin}/trickle`, { signal: controller.signal });
    expect(outcome.error).toBeInstanceOf(Error);
    expect(outcome.error?.message).toBe("job cancelled");
    await nothingStored(outcome.key);
  });
});
