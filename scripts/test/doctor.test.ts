/**
 * `npm run doctor`'s checks against real local services: a redis-server with a password, s3rver with a CORS
 * rule, a throwaway Postgres cluster; plus hosts that refuse or never answer (each a clear line, fast).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkConfig, checkSecrets } from "../doctor/config.ts";
import { checkEdge } from "../doctor/edge.ts";
import { checkPostgres } from "../doctor/postgres.ts";
import { checkRedis, explainRedisError } from "../doctor/redis.ts";
import { formatReports, hasFailures, type Report } from "../doctor/report.ts";
import { checkStorage } from "../doctor/storage.ts";
import { makeTestCertificates, redisTlsArgs } from "../stack/test-certificates.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");
const fails = (r: Report) => r.problems.filter((p) => p.level === "fail");

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, ms = 15_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`port ${port} did not open`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const children: ChildProcess[] = [];
const dirs: string[] = [];
afterAll(() => {
  for (const child of children) child.kill("SIGKILL");
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe("doctor: redis", () => {
  let port = 0;
  beforeAll(async () => {
    port = await freePort();
    const child = spawn(
      "redis-server",
      [
        "--bind",
        "127.0.0.1",
        "--port",
        String(port),
        "--requirepass",
        "right-password",
        "--save",
        "",
        "--appendonly",
        "no",
      ],
      { stdio: "ignore" },
    );
    children.push(child);
    await waitForPort(port);
  });

  it("says 'wrong password' and how to fix it", async () => {
    const r = await checkRedis(`redis://:not-it@127.0.0.1:${port}`, { timeoutMs: 3000 });
    expect(fails(r)).toHaveLength(1);
    expect(fails(r)[0]?.message).toMatch(/wrong password/);
    expect(fails(r)[0]?.fix).toMatch(/REDIS_URL/);
    // Never the password itself.
    expect(formatReports([r]).join("\n")).not.toContain("not-it");
  });

  it("says the server needs a password when REDIS_URL has none", async () => {
    const r = await checkRedis(`redis://127.0.0.1:${port}`, { timeoutMs: 3000 });
    expect(fails(r)[0]?.message).toMatch(/requires a password/);
  });

  it("passes with the right password", async () => {
    const r = await checkRedis(`redis://:right-password@127.0.0.1:${port}`, { timeoutMs: 3000 });
    expect(fails(r)).toEqual([]);
    expect(r.ok.join()).toMatch(/PING answered/);
  });

  it("rediss:// to a plain-text port is a TLS problem", async () => {
    const started = Date.now();
    const r = await checkRedis(`rediss://:right-password@127.0.0.1:${port}`, { timeoutMs: 2000 });
    expect(Date.now() - started).toBeLessThan(4000);
    expect(fails(r)[0]?.message).toMatch(/TLS|closed the connection|no answer/);
  });

  it("a refused port and a host that never answers each give one clear line within seconds", async () => {
    const closed = await freePort();
    let started = Date.now();
    const refused = await checkRedis(`redis://:x@127.0.0.1:${closed}`, { timeoutMs: 2000 });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(fails(refused)[0]?.message).toMatch(/connection refused/);

    // A listener that accepts and never speaks (a firewall black hole behaves the same for the client).
    const silent = net.createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const silentPort = (silent.address() as net.AddressInfo).port;
    started = Date.now();
    const hung = await checkRedis(`redis://:x@127.0.0.1:${silentPort}`, { timeoutMs: 1500 });
    expect(Date.now() - started).toBeLessThan(4000);
    expect(fails(hung)[0]?.message).toMatch(/no answer .* within 1.5 s/);
    silent.close();
  });
});

describe("doctor: redis over TLS (rediss://) with a private CA", () => {
  let url = "";
  let ca = "";
  let otherCa = "";
  let key = "";
  beforeAll(async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "doctor-redis-tls-"));
    dirs.push(dir);
    const other = path.join(dir, "other");
    mkdirSync(other);
    const certs = await makeTestCertificates(dir);
    ({ ca, key } = certs);
    otherCa = (await makeTestCertificates(other)).ca;
    const port = await freePort();
    const args = ["--bind", "127.0.0.1", ...redisTlsArgs(port, certs), "--requirepass", "right-password"];
    const child = spawn("redis-server", [...args, "--save", "", "--appendonly", "no"], { stdio: "ignore" });
    children.push(child);
    await waitForPort(port);
    url = `rediss://:right-password@localhost:${port}`;
  });

  it("without NODE_EXTRA_CA_CERTS: the certificate is not trusted, and the fix names the variable", async () => {
    const r = await checkRedis(url, { timeoutMs: 3000, extraCa: undefined });
    expect(fails(r)[0]?.message).toMatch(/TLS certificate is not trusted/);
    expect(fails(r)[0]?.fix).toMatch(/NODE_EXTRA_CA_CERTS/);
  });

  it("with NODE_EXTRA_CA_CERTS naming the CA: passes over TLS, warning that Cloudflare will not trust it", async () => {
    const r = await checkRedis(url, { timeoutMs: 3000, extraCa: ca });
    expect(fails(r)).toEqual([]);
    expect(r.ok.join()).toMatch(/PING answered .* over TLS/);
    expect(r.problems.map((p) => p.message).join()).toMatch(/trusted only through NODE_EXTRA_CA_CERTS/);
    expect(formatReports([r]).join("\n")).not.toContain("right-password");
  });

  it("a NODE_EXTRA_CA_CERTS that is missing, holds no certificate, or holds another CA is named", async () => {
    const missing = await checkRedis(url, { timeoutMs: 3000, extraCa: path.join(ca, "..", "nope.pem") });
    expect(fails(missing)[0]?.message).toMatch(/NODE_EXTRA_CA_CERTS .* cannot be read/);
    const notPem = await checkRedis(url, { timeoutMs: 3000, extraCa: key });
    expect(fails(notPem)[0]?.message).toMatch(/holds no PEM certificate/);
    const other = await checkRedis(url, { timeoutMs: 3000, extraCa: otherCa });
    expect(fails(other)[0]?.message).toMatch(/not trusted/);
    expect(fails(other)[0]?.fix).toMatch(/does not hold the CA/);
  });

  it("plain redis:// to the TLS port fails", async () => {
    const r = await checkRedis(url.replace("rediss:", "redis:"), { timeoutMs: 2000 });
    expect(fails(r)).toHaveLength(1);
  });

  it("a certificate for another name asks for the name it is issued for", () => {
    const text = "Hostname/IP does not match certificate's altnames | ERR_TLS_CERT_ALTNAME_INVALID";
    expect(explainRedisError(text, "rediss://:p@10.0.0.5:6380", 5000).message).toMatch(/for another name/);
  });
});

describe("doctor: storage (s3rver)", () => {
  let endpoint = "";
  const settings = () => ({
    endpoint,
    bucket: "streamlet",
    region: "us-east-1",
    accessKeyId: "S3RVER",
    secretAccessKey: "S3RVER",
  });

  beforeAll(async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "doctor-s3-"));
    dirs.push(dir);
    const cors = path.join(dir, "cors.xml");
    writeFileSync(
      cors,
      `<CORSConfiguration><CORSRule><AllowedOrigin>http://localhost:5173</AllowedOrigin><AllowedMethod>PUT</AllowedMethod><AllowedMethod>GET</AllowedMethod><AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader></CORSRule></CORSConfiguration>`,
    );
    const port = await freePort();
    const script = path.join(ROOT, "node_modules", "s3rver", "bin", "s3rver.js");
    const child = spawn(
      process.execPath,
      [
        "--openssl-legacy-provider",
        script,
        "-d",
        path.join(dir, "data"),
        "-a",
        "127.0.0.1",
        "-p",
        String(port),
        "--configure-bucket",
        "streamlet",
        cors,
        "--silent",
      ],
      { stdio: "ignore" },
    );
    children.push(child);
    await waitForPort(port, 20_000);
    endpoint = `http://127.0.0.1:${port}`;
  });

  it("a presigned PUT/GET/DELETE round-trip and the browser's CORS for the frontend origin pass", async () => {
    const r = await checkStorage(settings(), { origins: ["http://localhost:5173"], timeoutMs: 5000 });
    expect(r.problems).toEqual([]);
    const ok = r.ok.join("\n");
    expect(ok).toMatch(/presigned PUT and GET round-trip/);
    expect(ok).toMatch(/DELETE works/);
    expect(ok).toMatch(/CORS: browsers at http:\/\/localhost:5173 may PUT, ETag exposed/);
  });

  it("an origin the bucket does not allow is a CORS failure with the fix", async () => {
    const r = await checkStorage(settings(), { origins: ["https://app.example.com"], timeoutMs: 5000 });
    expect(fails(r)).toHaveLength(1);
    expect(fails(r)[0]?.message).toMatch(/CORS: a browser at https:\/\/app.example.com may not PUT/);
    expect(fails(r)[0]?.fix).toMatch(/CORS rule/);
  });

  it("a bucket that does not exist is named", async () => {
    const r = await checkStorage({ ...settings(), bucket: "no-such-bucket" }, { timeoutMs: 5000 });
    expect(fails(r)[0]?.message).toMatch(/bucket no-such-bucket does not exist/);
  });

  it("an endpoint that never answers fails within the timeout", async () => {
    const silent = net.createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as net.AddressInfo).port;
    const started = Date.now();
    const r = await checkStorage(
      { ...settings(), endpoint: `http://127.0.0.1:${port}` },
      { timeoutMs: 1500 },
    );
    expect(Date.now() - started).toBeLessThan(4000);
    expect(fails(r)[0]?.message).toMatch(/no answer from http:\/\/127.0.0.1:\d+ within 1.5 s/);
    silent.close(); // closeAllConnections is not on net.Server; the hung socket dies with the test process
  });
});

describe("doctor: postgres", () => {
  let url = "";
  beforeAll(async () => {
    const { startPostgres } = await import("../stack/services.ts");
    const dir = mkdtempSync(path.join(os.tmpdir(), "doctor-pg-"));
    chmodSync(dir, 0o755); // as root, the cluster runs as the postgres user, who must reach it
    dirs.push(dir);
    const pg = await startPostgres({
      dir: path.join(dir, "pg"),
      port: await freePort(),
      fast: true,
      log: () => () => {},
    });
    children.push(pg.proc.child);
    url = pg.url;
  }, 120_000);

  it("reports missing migrations with the command, then passes once they are applied", async () => {
    const before = await checkPostgres(url, { timeoutMs: 5000 });
    expect(fails(before)[0]?.message).toMatch(/no migrations applied/);
    expect(fails(before)[0]?.fix).toMatch(/npm run db:migrate/);
    const { applyMigrations } = await import("../stack/migrate.ts");
    await applyMigrations(url);
    const after = await checkPostgres(url, { timeoutMs: 5000 });
    expect(after.problems).toEqual([]);
    expect(after.ok.join()).toMatch(/migrations applied/);
  }, 60_000);

  it("says 'wrong password' without printing it", async () => {
    const wrong = url.replace(/:[^:@/]+@/, ":not-the-password@");
    const r = await checkPostgres(wrong, { timeoutMs: 5000 });
    expect(fails(r)[0]?.message).toMatch(/wrong password/);
    expect(formatReports([r]).join("\n")).not.toContain("not-the-password");
  });
});

describe("doctor: configuration and edge", () => {
  it("uses the edge's own schema: a short JWT_SECRET is a failure naming the rule", () => {
    const r = checkConfig("edge", {
      DATABASE_URL: "postgres://u:p@h/db",
      REDIS_URL: "redis://h:6379",
      S3_ENDPOINT: "https://s3.example.com",
      S3_BUCKET: "b",
      S3_ACCESS_KEY_ID: "k",
      S3_SECRET_ACCESS_KEY: "s",
      JWT_SECRET: "short",
      TRANSCODER_SECRET: "0123456789abcdef",
    });
    expect(fails(r).map((p) => p.message)).toEqual(["JWT_SECRET must be at least 32 characters"]);
    expect(fails(r)[0]?.fix).toMatch(/wrangler secret put JWT_SECRET/);
  });

  it("uses the transcoder's schema: missing variables are each one line", () => {
    const r = checkConfig("transcoder", { REDIS_URL: "redis://h:6379" });
    const messages = fails(r).map((p) => p.message);
    expect(messages).toContain("EDGE_URL is not set");
    expect(messages).toContain("TRANSCODER_SECRET is not set");
  });

  it("the same value for both secrets fails", () => {
    const same = "x".repeat(8) + "y".repeat(32);
    expect(hasFailures([checkSecrets({ JWT_SECRET: same, TRANSCODER_SECRET: same })])).toBe(true);
  });

  it("an unreachable edge is one line within the timeout", async () => {
    const closed = await freePort();
    const started = Date.now();
    const r = await checkEdge(`http://127.0.0.1:${closed}`, { timeoutMs: 2000 });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(fails(r)[0]?.message).toMatch(
      /edge unreachable at http:\/\/127.0.0.1:\d+\/healthz: connection refused/,
    );
  });
});
