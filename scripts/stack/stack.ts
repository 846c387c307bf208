import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { applyMigrations } from "./migrate.ts";
import { startNeonBridge } from "./neon-ws-bridge.ts";
import { assertPortFree, freePort, type Managed } from "./proc.ts";
import {
  type Log,
  S3_ACCESS_KEY,
  S3_SECRET_KEY,
  startEdge,
  startPostgres,
  startRedis,
  startS3,
  startTranscoder,
} from "./services.ts";
import { Supervisor } from "./supervisor.ts";

export interface StackOptions {
  /** Folder for every piece of local state (databases, objects, logs, secrets). */
  dataDir: string;
  /** Fixed ports for `npm run dev`; tests pass `"random"` to run beside a dev stack. */
  ports: "random" | { edge: number; redis: number; postgres: number; neonBridge: number; s3: number };
  /** How many transcoder processes to start (0 for none). */
  transcoders?: number;
  /** Durable local state (append-only Redis, fsync'd Postgres); off for throwaway test stacks. */
  durable?: boolean;
  /** Where child output lines go; by name. */
  log?: Log;
  /** Variables to use instead of starting services (REDIS_URL, DATABASE_URL, S3_ENDPOINT, ...). */
  env?: NodeJS.ProcessEnv;
  /** Extra variables for the transcoder processes (e.g. TRANSCODER_CONCURRENCY). */
  transcoderEnv?: Record<string, string>;
  /**
   * Owns every process the stack starts (default: a new one). Pass your own to stop a stack that is
   * still starting (Ctrl-C during start-up): supervisor.stopAll() stops what runs and refuses the rest.
   */
  supervisor?: Supervisor;
}

export interface AddTranscoderOptions {
  /** Variables on top of the stack's transcoder variables (e.g. SHUTDOWN_GRACE_MS for one node). */
  env?: Record<string, string>;
  /** Called with each output line of this process. */
  onLine?: (line: string) => void;
}

export interface Stack {
  edgeUrl: string;
  edgeVars: Record<string, string>;
  transcoderVars: Record<string, string>;
  /** Starts one more transcoder process (e.g. for a test that needs a second node). */
  addTranscoder(
    name?: string,
    opts?: AddTranscoderOptions,
  ): Promise<{ proc: Managed; stop(): Promise<void> }>;
  /** Stops every process (transcoders first) and the in-process Neon bridge. */
  stop(): Promise<void>;
  supervisor: Supervisor;
}

// Below Linux's ephemeral range (32768+), so an outgoing connection never holds one of them.
const DEV_PORTS = { edge: 8787, redis: 16379, postgres: 15432, neonBridge: 15433, s3: 19000 };

export { DEV_PORTS };

/** The stack's generated secrets, kept in the data folder; one missing from an older file is added. */
function loadSecrets(dataDir: string) {
  const file = path.join(dataDir, "secrets.json");
  const stored = existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as Record<string, string>) : {};
  const secrets = {
    JWT_SECRET: stored.JWT_SECRET ?? randomBytes(32).toString("base64url"),
    TRANSCODER_SECRET: stored.TRANSCODER_SECRET ?? randomBytes(32).toString("base64url"),
    REDIS_PASSWORD: stored.REDIS_PASSWORD ?? randomBytes(24).toString("hex"),
  };
  if (Object.keys(stored).length !== Object.keys(secrets).length) {
    writeFileSync(file, JSON.stringify(secrets), { mode: 0o600 });
  }
  return secrets;
}

/**
 * Starts Redis, Postgres (+ the Neon WebSocket bridge), s3rver, the edge under wrangler dev and the
 * transcoders, on 127.0.0.1. Any service named in `env` is used instead of started.
 */
/**
 * Storage settings from the environment: a given S3_ENDPOINT with its keys, or (empty endpoint) the local
 * s3rver the stack starts, always with s3rver's own keys: keys in the environment belong to the storage it
 * names (a compose .env's Garage key would make every signed request to s3rver fail).
 */
export function storageSettings(env: Record<string, string | undefined>) {
  const given = Boolean(env.S3_ENDPOINT);
  return {
    S3_ENDPOINT: env.S3_ENDPOINT || "",
    S3_BUCKET: env.S3_BUCKET || "streamlet",
    S3_REGION: env.S3_REGION || "us-east-1",
    S3_ACCESS_KEY_ID: (given && env.S3_ACCESS_KEY_ID) || S3_ACCESS_KEY,
    S3_SECRET_ACCESS_KEY: (given && env.S3_SECRET_ACCESS_KEY) || S3_SECRET_KEY,
  };
}

export async function startStack(opts: StackOptions): Promise<Stack> {
  const env = opts.env ?? process.env;
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o755 });
  const ports =
    opts.ports === "random"
      ? {
          edge: await freePort(),
          redis: await freePort(),
          postgres: await freePort(),
          neonBridge: await freePort(),
          s3: await freePort(),
        }
      : opts.ports;
  if (opts.ports !== "random") {
    for (const [name, port] of Object.entries(opts.ports)) await assertPortFree(port, name);
  }
  const supervisor = opts.supervisor ?? new Supervisor();
  let stopBridge = async () => {};
  const stop = async () => {
    await supervisor.stopAll();
    await stopBridge().catch(() => {});
  };
  try {
    const durable = opts.durable ?? false;
    const secrets = loadSecrets(opts.dataDir);
    let redisUrl = env.REDIS_URL;
    if (!redisUrl) {
      const dir = path.join(opts.dataDir, "redis");
      const started = await startRedis({
        dir,
        port: ports.redis,
        persist: durable,
        password: secrets.REDIS_PASSWORD,
        log: opts.log,
        supervisor,
      });
      redisUrl = started.url;
    }

    let databaseUrl = env.DATABASE_URL;
    if (!databaseUrl) {
      const pgDir = path.join(opts.dataDir, "postgres");
      const started = await startPostgres({
        dir: pgDir,
        port: ports.postgres,
        fast: !durable,
        log: opts.log,
        supervisor,
      });
      databaseUrl = started.url;
    }
    await applyMigrations(databaseUrl);
    let neonProxy = env.NEON_WS_PROXY || "";
    if (!neonProxy) {
      const target = new URL(databaseUrl);
      const bridge = startNeonBridge({
        port: ports.neonBridge,
        allowed: [`${target.hostname}:${target.port || 5432}`],
      });
      stopBridge = bridge.stop;
      await bridge.ready;
      neonProxy = bridge.url;
    }

    let s3 = storageSettings(env);
    const bucket = s3.S3_BUCKET;
    if (!s3.S3_ENDPOINT) {
      const started = await startS3({
        dir: path.join(opts.dataDir, "s3"),
        port: ports.s3,
        bucket,
        log: opts.log,
        supervisor,
      });
      s3 = { ...s3, S3_ENDPOINT: started.endpoint };
    }

    const edgeVars: Record<string, string> = {
      DATABASE_URL: databaseUrl,
      NEON_WS_PROXY: neonProxy,
      REDIS_URL: redisUrl,
      ...s3,
      S3_PUBLIC_ENDPOINT: env.S3_PUBLIC_ENDPOINT || s3.S3_ENDPOINT,
      JWT_SECRET: env.JWT_SECRET || secrets.JWT_SECRET || "",
      TRANSCODER_SECRET: env.TRANSCODER_SECRET || secrets.TRANSCODER_SECRET || "",
      // wrangler dev keeps a CF-Connecting-IP the client sent: not an address to trust unless told.
      TRUST_CF_CONNECTING_IP: env.TRUST_CF_CONNECTING_IP || "false",
      // Optional settings pass through when given (e.g. MONGODB_URL from `docker-compose up mongodb`).
      ...Object.fromEntries(
        Object.entries(env).filter(
          (e): e is [string, string] =>
            /^(MONGODB_URL|MONGODB_DB|RATE_LIMITS?(_[A-Z_]+)?|PLAYBACK_STATE_TTL_SECONDS|MAX_SOURCE_BYTES|MULTIPART_THRESHOLD_BYTES|UPLOAD_PART_BYTES|STORAGE_QUOTA_BYTES|UPLOAD_EXPIRY_SECONDS|CLOUDFLARE_(ZONE_ID|PURGE_TOKEN|API_BASE))$/.test(
              e[0],
            ) && !!e[1],
        ),
      ),
    };
    const edge = await startEdge({
      dataDir: path.join(opts.dataDir, "edge"),
      port: ports.edge,
      vars: edgeVars,
      log: opts.log,
      supervisor,
    });

    const transcoderVars: Record<string, string> = {
      REDIS_URL: redisUrl,
      ...s3,
      EDGE_URL: edge.url,
      TRANSCODER_SECRET: edgeVars.TRANSCODER_SECRET ?? "",
      WORK_DIR: path.join(opts.dataDir, "work"),
      // stop() sends a second SIGTERM (hand back now) after 3.5 s: a running job finishes within the
      // grace or goes back to the queue, and resumes at once on the next start instead of waiting out its lock.
      SHUTDOWN_GRACE_MS: env.SHUTDOWN_GRACE_MS || "2500",
      // Any free port for /healthz and /metrics, so several transcoders (tests) never collide; the
      // "ready" log line says which.
      OPS_PORT: env.OPS_PORT || "0",
      ...opts.transcoderEnv,
    };
    mkdirSync(transcoderVars.WORK_DIR ?? "", { recursive: true });
    let count = 0;
    const addTranscoder = async (name?: string, more: AddTranscoderOptions = {}) => {
      count += 1;
      const t = await startTranscoder({
        env: { ...transcoderVars, ...more.env },
        name: name ?? `transcoder-${count}`,
        log: opts.log,
        onLine: more.onLine,
        supervisor,
      });
      return { proc: t.proc, stop: t.proc.stop };
    };
    for (let i = 0; i < (opts.transcoders ?? 1); i++) await addTranscoder();

    return { edgeUrl: edge.url, edgeVars, transcoderVars, addTranscoder, stop, supervisor };
  } catch (err) {
    await stop();
    throw err;
  }
}
