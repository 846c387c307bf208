import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { type Managed, run, spawnManaged, waitForHttp, waitForPort } from "./proc.ts";
import { procStat, type Supervisor } from "./supervisor.ts";
import { builtWeb } from "./web.ts";

export const ROOT = path.resolve(import.meta.dirname, "../..");
const bin = (name: string) => path.join(ROOT, "node_modules", ".bin", name);
const isRoot = process.getuid?.() === 0;

export type Log = (name: string) => (line: string) => void;

/**
 * Starts redis-server on loopback; `persist` keeps an append-only file so queued jobs survive a restart.
 * With a password (as in every deployment: compose requires one) the URL carries it, so every client of
 * the stack (the Worker's BullMQ, the transcoders, the tests) authenticates the way production does.
 */
export async function startRedis(opts: {
  dir: string;
  port: number;
  persist: boolean;
  /** URL-safe: it is put in the URL as it is. */
  password?: string;
  log?: Log;
  supervisor?: Supervisor;
}) {
  mkdirSync(opts.dir, { recursive: true });
  const args = ["--bind", "127.0.0.1", "--port", String(opts.port), "--dir", opts.dir, "--save", ""];
  args.push("--appendonly", opts.persist ? "yes" : "no", "--maxmemory-policy", "noeviction");
  if (opts.password) args.push("--requirepass", opts.password);
  const proc = spawnManaged("redis", "redis-server", args, {
    log: opts.log?.("redis"),
    supervisor: opts.supervisor,
  });
  await waitForPort(opts.port, "127.0.0.1", 15_000, proc);
  const auth = opts.password ? `:${opts.password}@` : "";
  return { proc, url: `redis://${auth}127.0.0.1:${opts.port}` };
}

function postgresBinDir(): string {
  const base = "/usr/lib/postgresql";
  if (existsSync(base)) {
    const versions = readdirSync(base)
      .filter((v) => existsSync(path.join(base, v, "bin", "initdb")))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return path.join(base, versions[0], "bin");
  }
  return ""; // rely on PATH
}

/**
 * Postgres refuses to run as root; as root we run it as the `postgres` system user. setpriv execs in
 * place (runuser would stay as a parent), so the postmaster is the process we signal.
 */
function asPostgres(cmd: string, args: string[]): [string, string[]] {
  if (!isRoot) return [cmd, args];
  if (onPath("setpriv"))
    return ["setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", "--", cmd, ...args]];
  return ["runuser", ["-u", "postgres", "--", cmd, ...args]];
}

function onPath(name: string) {
  return (process.env.PATH ?? "")
    .split(path.delimiter)
    .some((dir) => dir && existsSync(path.join(dir, name)));
}

/**
 * A postmaster killed while its parent was gone stays a zombie where init never reaps (a container
 * without an init): Postgres would take the zombie's pid for a running server and refuse to start.
 */
function clearZombieLock(dir: string, log?: (line: string) => void) {
  const file = path.join(dir, "postmaster.pid");
  if (!existsSync(file)) return;
  const pid = Number(readFileSync(file, "utf8").split("\n")[0]);
  if (pid > 0 && procStat(pid)?.state === "Z") {
    log?.(`removing the lock of a dead postmaster (pid ${pid} is a zombie)`);
    rmSync(file, { force: true });
  }
}

export const PG_USER = "streamlet";
export const PG_PASSWORD = "streamlet-local";
export const PG_DATABASE = "streamlet";

/** Creates (once) and starts a private Postgres cluster on loopback, TCP only, with the app database. */
export async function startPostgres(opts: {
  dir: string;
  port: number;
  fast?: boolean;
  log?: Log;
  supervisor?: Supervisor;
}) {
  const binDir = postgresBinDir();
  const tool = (name: string) => (binDir ? path.join(binDir, name) : name);
  if (!existsSync(path.join(opts.dir, "PG_VERSION"))) {
    mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
    const pwfile = path.join(opts.dir, "..", `.pgpass-${process.pid}`);
    writeFileSync(pwfile, `${PG_PASSWORD}\n`, { mode: 0o644 });
    if (isRoot) {
      await run("chown", ["-R", "postgres:postgres", opts.dir]);
      await run("runuser", ["-u", "postgres", "--", "test", "-w", opts.dir]).catch(() => {
        throw new Error(
          `the postgres user cannot write ${opts.dir}: a folder above it is not world-searchable (chmod o+x it) or set DATABASE_URL`,
        );
      });
    }
    const [cmd, args] = asPostgres(tool("initdb"), [
      "-D",
      opts.dir,
      "-U",
      PG_USER,
      `--pwfile=${pwfile}`,
      "--auth-host=scram-sha-256",
      "--auth-local=peer",
      "-E",
      "UTF8",
      "--locale=C",
    ]);
    try {
      await run(cmd, args);
    } finally {
      await run("rm", ["-f", pwfile]);
    }
  }
  const settings = [
    "-c",
    "listen_addresses=127.0.0.1",
    "-p",
    String(opts.port),
    "-c",
    "unix_socket_directories=",
  ];
  if (opts.fast)
    settings.push("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off");
  clearZombieLock(opts.dir, opts.log?.("postgres"));
  const [cmd, args] = asPostgres(tool("postgres"), ["-D", opts.dir, ...settings]);
  // SIGINT to the postmaster: a fast shutdown (what `pg_ctl stop -m fast` sends); it stops its backends.
  const proc = spawnManaged("postgres", cmd, args, {
    log: opts.log?.("postgres"),
    stopSignal: "SIGINT",
    stopLeaderOnly: true,
    stopTimeoutMs: 5000,
    supervisor: opts.supervisor,
  });
  await waitForPort(opts.port, "127.0.0.1", 30_000, proc);
  const admin = `postgres://${PG_USER}:${PG_PASSWORD}@127.0.0.1:${opts.port}/postgres`;
  await retry(async () => {
    const client = new pg.Client({ connectionString: admin });
    await client.connect();
    try {
      const found = await client.query("select 1 from pg_database where datname = $1", [PG_DATABASE]);
      if (found.rowCount === 0) await client.query(`create database ${PG_DATABASE}`);
    } finally {
      await client.end();
    }
  });
  return { proc, url: `postgres://${PG_USER}:${PG_PASSWORD}@127.0.0.1:${opts.port}/${PG_DATABASE}` };
}

async function retry<T>(fn: () => Promise<T>, attempts = 30): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

export const S3_ACCESS_KEY = "S3RVER";
export const S3_SECRET_KEY = "S3RVER";

/** The bucket CORS rule: browsers PUT parts, read their ETags, list parts and abort uploads. */
export const CORS_XML = `<CORSConfiguration>
  <CORSRule>
    <AllowedOrigin>*</AllowedOrigin>
    <AllowedMethod>PUT</AllowedMethod>
    <AllowedMethod>GET</AllowedMethod>
    <AllowedMethod>HEAD</AllowedMethod>
    <AllowedMethod>DELETE</AllowedMethod>
    <AllowedHeader>*</AllowedHeader>
    <ExposeHeader>ETag</ExposeHeader>
    <MaxAgeSeconds>3600</MaxAgeSeconds>
  </CORSRule>
</CORSConfiguration>
`;

/**
 * Starts the local S3-compatible server (s3rver plus the multipart routes it lacks: scripts/stack/s3-server.ts)
 * with the bucket created and CORS open for browser part uploads (PUT, DELETE, ETag exposed).
 */
export async function startS3(opts: {
  dir: string;
  port: number;
  bucket: string;
  log?: Log;
  supervisor?: Supervisor;
}) {
  const dir = path.resolve(opts.dir);
  mkdirSync(dir, { recursive: true });
  const cors = path.join(dir, "..", "s3-cors.xml");
  writeFileSync(cors, CORS_XML);
  const script = path.join(ROOT, "scripts", "stack", "s3-server.ts");
  const args = [
    "--openssl-legacy-provider",
    "--import",
    "tsx",
    script,
    "-d",
    dir,
    "-a",
    "127.0.0.1",
    "-p",
    String(opts.port),
  ];
  args.push("--configure-bucket", opts.bucket, cors, "--silent");
  const proc = spawnManaged("s3", process.execPath, args, {
    cwd: ROOT, // where --import finds tsx
    log: opts.log?.("s3"),
    supervisor: opts.supervisor,
  });
  await waitForPort(opts.port, "127.0.0.1", 20_000, proc);
  return { proc, endpoint: `http://127.0.0.1:${opts.port}` };
}

function envFileText(vars: Record<string, string>) {
  return Object.entries(vars)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join("\n");
}

/** Runs the edge Worker under `wrangler dev` (workerd) with its variables in a private env file. */
export async function startEdge(opts: {
  dataDir: string;
  port: number;
  vars: Record<string, string>;
  /** Process variables for wrangler itself (e.g. NODE_EXTRA_CA_CERTS: Miniflare hands them to workerd). */
  env?: Record<string, string>;
  log?: Log;
  supervisor?: Supervisor;
}) {
  mkdirSync(opts.dataDir, { recursive: true });
  const assets = await builtWeb(opts.log?.("web"));
  const envFile = path.join(opts.dataDir, "edge.env");
  writeFileSync(envFile, `${envFileText(opts.vars)}\n`, { mode: 0o600 });
  const args = [
    "dev",
    "--config",
    path.join(ROOT, "wrangler.toml"),
    "--ip",
    "127.0.0.1",
    "--port",
    String(opts.port),
  ];
  args.push("--env-file", envFile, "--persist-to", path.join(opts.dataDir, "wrangler-state"));
  args.push("--assets", assets);
  args.push("--show-interactive-dev-session=false", "--inspector-port", "0");
  const env = {
    ...process.env,
    WRANGLER_SEND_METRICS: "false",
    CLOUDFLARE_CF_FETCH_ENABLED: "false",
    WRANGLER_LOG_PATH: path.join(opts.dataDir, "wrangler-logs"),
    NO_COLOR: "1",
    ...opts.env,
  };
  // SIGTERM to the group: wrangler, its node child and workerd all stop.
  const proc = spawnManaged("edge", bin("wrangler"), args, {
    env,
    cwd: ROOT,
    log: opts.log?.("edge"),
    supervisor: opts.supervisor,
  });
  const url = `http://127.0.0.1:${opts.port}`;
  await waitForHttp(`${url}/healthz`, 90_000, proc);
  return { proc, url };
}

/** Starts one transcoder process and waits for its "ready" log line. */
export async function startTranscoder(opts: {
  env: Record<string, string>;
  name?: string;
  log?: Log;
  /** Called with every output line (JSON log lines), e.g. to wait for a job stage in a test. */
  onLine?: (line: string) => void;
  supervisor?: Supervisor;
}) {
  const name = opts.name ?? "transcoder";
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  // node --import tsx, not the tsx CLI: the pid is the transcoder itself, so a SIGTERM reaches its
  // handler directly rather than through a relaying wrapper process.
  const main = path.join(ROOT, "transcoder", "src", "main.ts");
  const proc: Managed = spawnManaged(name, process.execPath, ["--import", "tsx", main], {
    env: { ...process.env, ...opts.env },
    cwd: ROOT,
    log: opts.log?.(name),
    // Only the transcoder gets the SIGTERM: it drains and hands jobs back; its ffmpeg must not be hit.
    // A second SIGTERM hands running jobs back at once. Stopped before Redis and the edge it needs.
    stopLeaderOnly: true,
    stopRepeatable: true,
    stopTimeoutMs: 3500,
    stopFirst: true,
    supervisor: opts.supervisor,
    onLine: (line) => {
      if (/"msg":"ready"/.test(line)) markReady();
      opts.onLine?.(line);
    },
  });
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`${name} did not log ready within 60 s`)), 60_000).unref(),
  );
  const died = proc.exited.then((code) => new Error(`${name} exited with ${code} before it was ready`));
  const outcome = await Promise.race([ready, timeout, died]);
  if (outcome instanceof Error) throw outcome;
  return { proc };
}
