/**
 * Redis with a password and TLS (rediss://), end to end: a throwaway CA signs a certificate for a
 * redis-server that listens on TLS only and wants a password. A second edge under `wrangler dev` (real
 * workerd: ioredis over nodejs_compat's node:tls) and a real transcoder process both get the rediss://
 * URL and trust the private CA only through NODE_EXTRA_CA_CERTS, as an operator would run them; a video
 * uploaded through that edge must come out ready. Postgres and storage are the suite's stack's.
 * The negatives make sure TLS and the password are really in force: plain text, an untrusted CA and a
 * missing password are all refused.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { TRANSCODE_QUEUE } from "@streamlet/shared";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { signedUpClient, waitForTerminal } from "../../stack/client.ts";
import { makeClip } from "../../stack/clip.ts";
import { freePort, type Managed, spawnManaged, waitForPort } from "../../stack/proc.ts";
import { startEdge, startTranscoder } from "../../stack/services.ts";
import { makeTestCertificates, redisTlsArgs, type TestCertificates } from "../../stack/test-certificates.ts";

const PASSWORD = crypto.randomUUID().replaceAll("-", "");
let dir = "";
let caFile = "";
let port = 0;
let edgeUrl = "";
/**
 * An edge given the same rediss:// URL but not the CA (NODE_EXTRA_CA_CERTS as this process has it, if at all:
 * the system bundle at most): workerd must refuse the certificate.
 */
let untrustingEdgeUrl = "";
const untrustingEdgeLines: string[] = [];
const procs: Managed[] = [];
const logs: string[] = [];
const log = (name: string) => (line: string) => {
  logs.push(`[${name}] ${line}`);
  if (logs.length > 500) logs.shift();
  if (process.env.STACK_LOGS === "1") process.stderr.write(`[${name}] ${line}\n`);
};

/** redis-server on TLS only (--port 0), password required, clients not asked for certificates. */
async function startTlsRedis(certs: TestCertificates) {
  const tlsPort = await freePort();
  const args = ["--bind", "127.0.0.1", ...redisTlsArgs(tlsPort, certs)];
  args.push("--requirepass", PASSWORD, "--save", "", "--appendonly", "no");
  args.push("--dir", dir);
  const proc = spawnManaged("redis-tls", "redis-server", args, { log: log("redis-tls") });
  procs.push(proc);
  await waitForPort(tlsPort, "127.0.0.1", 15_000, proc);
  return tlsPort;
}

const rediss = (auth = `:${PASSWORD}@`) => `rediss://${auth}localhost:${port}`;

/** The first error a client gets, or "connected" (no retries: one attempt tells). */
async function firstError(url: string, tls?: object): Promise<string> {
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 3000,
    ...(tls ? { tls } : {}),
  });
  // The socket's own error (a TLS refusal) comes as an event; connect() only says the connection closed.
  let first: Error | undefined;
  client.on("error", (error: Error) => {
    first ??= error;
  });
  const describe = (error: Error) => `${(error as NodeJS.ErrnoException).code ?? ""} ${error.message}`;
  try {
    await client.connect();
    await client.ping();
    return "connected";
  } catch (error) {
    return describe(first ?? (error as Error));
  } finally {
    client.disconnect();
  }
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "streamlet-redis-tls-"));
  const certs = await makeTestCertificates(dir);
  caFile = certs.ca;
  port = await startTlsRedis(certs);
  const edgeVars = inject("edgeVars");
  const transcoderVars = inject("transcoderVars");
  const trustCa = { NODE_EXTRA_CA_CERTS: caFile };
  const workDir = path.join(dir, "work");
  mkdirSync(workDir);
  try {
    const vars = { ...edgeVars, REDIS_URL: rediss() };
    const [edge, untrusting] = await Promise.all([
      startEdge({ dataDir: path.join(dir, "edge"), port: await freePort(), vars, env: trustCa, log }),
      startEdge({
        dataDir: path.join(dir, "edge-untrusting"),
        port: await freePort(),
        vars,
        log: () => (line) => {
          untrustingEdgeLines.push(line);
          log("edge-untrusting")(line);
        },
      }),
    ]);
    procs.push(edge.proc, untrusting.proc);
    edgeUrl = edge.url;
    untrustingEdgeUrl = untrusting.url;
    const transcoder = await startTranscoder({
      name: "transcoder-tls",
      env: {
        ...transcoderVars,
        ...trustCa,
        REDIS_URL: rediss(),
        EDGE_URL: edgeUrl,
        WORK_DIR: workDir,
      },
      log,
    });
    procs.push(transcoder.proc);
  } catch (error) {
    process.stderr.write(`${logs.slice(-80).join("\n")}\n`);
    throw error;
  }
});

afterAll(async () => {
  for (const proc of procs.reverse()) await proc.stop().catch(() => {});
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("Redis over TLS with a password", () => {
  it("the Worker enqueues over rediss:// and the transcoder takes the job over rediss://", async () => {
    const clip = await makeClip(path.join(dir, "clip.mp4"), { seconds: 1, width: 320, height: 180 });
    const client = await signedUpClient(edgeUrl, "redis-tls");
    const created = await client.createVideo("over TLS", clip);
    await client.upload(created, clip);
    // 202 only once the job is in Redis (the Worker answers 503 queue_unavailable when it cannot get there).
    const queued = await client.markUploaded(created.video.id);
    expect(queued.video.status).toBe("queued");
    const video = await waitForTerminal(client, created.video.id, { timeoutMs: 60_000 });
    expect(video.status, logs.slice(-40).join("\n")).toBe("ready");

    // The job went through this Redis (and no other): it is here, completed.
    const connection = new Redis(rediss(), { tls: { ca: readFileSync(caFile) }, maxRetriesPerRequest: 1 });
    const queue = new Queue(TRANSCODE_QUEUE, { connection });
    try {
      const job = await queue.getJob(created.video.id);
      expect(await job?.getState()).toBe("completed");
    } finally {
      await queue.close();
      connection.disconnect();
    }
  });

  it("a Worker that does not trust the CA refuses the certificate and answers 503", async () => {
    const client = await signedUpClient(untrustingEdgeUrl, "redis-tls-untrusting");
    const created = await client.createVideo("untrusted CA", path.join(dir, "clip.mp4"));
    await client.upload(created, path.join(dir, "clip.mp4"));
    const answer = await client.markUploaded(created.video.id).catch((error: unknown) => error);
    expect(answer).toMatchObject({ status: 503, body: { error: { code: "queue_unavailable" } } });
    // workerd reports a refused handshake to the Worker only as a failed connect (logged by
    // edge/src/queue.ts); the twin edge above, same URL plus the CA, connects, so the CA is what differs.
    expect(untrustingEdgeLines.join("\n")).toMatch(/redis connection error: proxy request failed/);
    // Nothing was queued, so the video is back where the client's retry starts.
    expect((await client.getVideo(created.video.id)).status).toBe("awaiting_upload");
  });

  it("refuses plain text, an untrusted CA and a missing password", async () => {
    const ca = readFileSync(caFile);
    // The same port spoken to in plain text: no RESP answer ever comes back.
    expect(await firstError(`redis://:${PASSWORD}@localhost:${port}`)).not.toBe("connected");
    // This process was not started with the CA in NODE_EXTRA_CA_CERTS: the private CA is not trusted.
    expect(await firstError(rediss())).toMatch(/SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY/);
    // Trusted, but the certificate names localhost and 127.0.0.1 only.
    expect(await firstError(rediss(), { ca, servername: "redis.example.com" })).toMatch(
      /ERR_TLS_CERT_ALTNAME_INVALID|does not match/i,
    );
    expect(await firstError(rediss(""), { ca })).toMatch(/NOAUTH/);
    expect(await firstError(rediss(":wrong-password@"), { ca })).toMatch(/WRONGPASS|invalid password/i);
    expect(await firstError(rediss(), { ca })).toBe("connected");
  });
});
