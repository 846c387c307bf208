import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getCACertificates, setDefaultCACertificates } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTestCertificates } from "../../../scripts/stack/test-certificates.ts";
import {
  ImportError,
  importSource,
  parseAllowedAddresses,
  type Resolver,
  storageSink,
} from "../../src/import/import-source.ts";
import { createStorage } from "../../src/storage.ts";
import { startS3, type TestS3 } from "../helpers/s3.ts";

/**
 * HTTPS through the pinned lookup: the socket goes to the checked address while the certificate is
 * still verified against the URL's host name. The throwaway CA is trusted for this file's worker only.
 */
describe("importSource over HTTPS", () => {
  const body = randomBytes(64 * 1024);
  const policy = { allowed: parseAllowedAddresses("127.0.0.1/32") };
  // Every name points at the local server; the URL's name is what the certificate must match.
  const resolve: Resolver = async () => [{ address: "127.0.0.1", family: 4 }];
  const defaultCas = getCACertificates("default");
  let dir: string;
  let s3: TestS3;
  let server: Server;
  let port: number;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "streamlet-import-tls-"));
    const certs = await makeTestCertificates(dir);
    setDefaultCACertificates([...defaultCas, await readFile(certs.ca, "utf8")]);
    server = createServer(
      { cert: await readFile(certs.cert), key: await readFile(certs.key) },
      (_req, res) => {
        res.writeHead(200, { "content-type": "video/mp4", "content-length": body.length }).end(body);
      },
    );
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
    s3 = await startS3();
  });
  afterAll(async () => {
    setDefaultCACertificates(defaultCas);
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await s3.close();
    await rm(dir, { recursive: true, force: true });
  });

  const run = (url: string) => {
    const key = `imports/${randomUUID()}/source`;
    const sink = storageSink(createStorage(s3.config), key);
    const limits = { maxBytes: 1024 * 1024, timeoutMs: 10_000 };
    return { key, done: importSource({ url, limits, policy, resolve, sink }) };
  };

  it("downloads from a host whose certificate matches the URL's name", async () => {
    const { key, done } = run(`https://localhost:${port}/video.mp4`);
    expect(await done).toEqual({ bytes: body.length, contentType: "video/mp4" });
    expect(Buffer.from(await (await s3.get(key)).arrayBuffer()).equals(body)).toBe(true);
  });

  it("refuses a certificate for another name, permanently", async () => {
    const { key, done } = run(`https://media.example.test:${port}/video.mp4`);
    const err = await done.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImportError);
    expect(err).toMatchObject({ code: "tls_error", transient: false });
    expect((err as ImportError).message).toBe(
      "the HTTPS connection to media.example.test failed (ERR_TLS_CERT_ALTNAME_INVALID)",
    );
    expect(await s3.list(key)).toEqual([]);
  });
});
