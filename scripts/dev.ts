/**
 * `npm run dev`: the whole stack on 127.0.0.1 with no configuration. State lives in .data/ (ignored).
 * Variables come from the environment, then from .env (the environment wins; an empty value in .env
 * counts as unset). Services named by them (REDIS_URL, DATABASE_URL, S3_ENDPOINT, ...) are used instead
 * of started. Ctrl-C (or SIGTERM), at any moment, stops every child; a second Ctrl-C hands running jobs
 * back at once, a third kills everything.
 */
import { existsSync, readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { parseEnv } from "node:util";
import { redactUrl } from "./doctor/report.ts";
import { ROOT } from "./stack/services.ts";
import { DEV_PORTS, startStack } from "./stack/stack.ts";
import { Supervisor, stopOnSignals } from "./stack/supervisor.ts";

const say = (msg: string) => process.stderr.write(`${msg}\n`);
// A closed terminal or pipe must not turn every later log line into a crash.
process.stdout.on("error", () => {});
process.stderr.on("error", () => {});

/** Reads .env into process.env without overriding what the environment already sets; returns the names. */
function loadDotEnv(file: string): string[] {
  if (!existsSync(file)) return [];
  const loaded: string[] = [];
  for (const [name, value] of Object.entries(parseEnv(readFileSync(file, "utf8")))) {
    if (process.env[name] !== undefined || value === "") continue;
    process.env[name] = value;
    loaded.push(name);
  }
  return loaded;
}

/** Fails fast, naming the variable, when a service given by env does not answer (say, a copied .env.example). */
async function checkGivenServices(fromDotEnv: Set<string>) {
  const services = [
    ["REDIS_URL", "Redis"],
    ["DATABASE_URL", "Postgres"],
    ["S3_ENDPOINT", "s3rver"],
  ] as const;
  for (const [name, what] of services) {
    const value = process.env[name];
    if (!value) continue;
    const origin = fromDotEnv.has(name) ? ".env" : "the environment";
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      say(`${name} (from ${origin}) is not a URL: ${value}`);
      process.exit(1);
    }
    const defaultPort = { "redis:": 6379, "rediss:": 6379, "https:": 443, "http:": 80 }[url.protocol];
    const port = Number(url.port || defaultPort || 5432);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: url.hostname, port, timeout: 3000 }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on("timeout", () => socket.destroy(new Error("timeout")));
      socket.on("error", () => resolve(false));
    });
    if (!ok) {
      say(`${name} (from ${origin}) points at ${url.hostname}:${port}, where nothing answers.`);
      say(
        `Start that service, or unset ${name} (remove it from .env) to let npm run dev start a local ${what}.`,
      );
      process.exit(1);
    }
    say(`using ${name} from ${origin} (not starting a local ${what})`);
  }
}

const fromDotEnv = new Set(loadDotEnv(path.join(ROOT, ".env")));
await checkGivenServices(fromDotEnv);

const dataDir = process.env.STREAMLET_DATA_DIR || path.join(ROOT, ".data");
const port = (name: string, fallback: number) => Number(process.env[name] || fallback);
const ports = {
  edge: port("STREAMLET_EDGE_PORT", DEV_PORTS.edge),
  redis: port("STREAMLET_REDIS_PORT", DEV_PORTS.redis),
  postgres: port("STREAMLET_POSTGRES_PORT", DEV_PORTS.postgres),
  neonBridge: port("STREAMLET_NEON_BRIDGE_PORT", DEV_PORTS.neonBridge),
  s3: port("STREAMLET_S3_PORT", DEV_PORTS.s3),
};

// Installed before anything starts: a Ctrl-C during start-up stops what already runs.
const supervisor = new Supervisor();
const signals = stopOnSignals(supervisor, { say });
process.on("uncaughtException", (err) => {
  say(`dev: ${err.stack ?? err.message}`);
  signals.stop("error", 1);
});

const stack = await startStack({
  dataDir,
  ports,
  durable: true,
  transcoders: Number(process.env.TRANSCODERS ?? 1),
  log: (name) => (line) => process.stderr.write(`[${name}] ${line}\n`),
  supervisor,
}).catch((err: Error): Promise<never> => {
  // After a Ctrl-C during start-up this is expected: the handler stops everything and exits.
  if (!signals.stopping) {
    say(`dev: ${err.message}`);
    signals.stop("start-up failed", 1);
  }
  return new Promise<never>(() => {});
});

console.log(`
Streamlet is running (data in ${path.relative(process.cwd(), dataDir) || "."}):
  web app       ${stack.edgeUrl}/           (open it in a browser: sign up, upload, watch)
  edge API      ${stack.edgeUrl}/v1         (OpenAPI: ${stack.edgeUrl}/openapi.json)
  Redis         ${redactUrl(stack.edgeVars.REDIS_URL ?? "")}
  Postgres      ${redactUrl(stack.edgeVars.DATABASE_URL ?? "")}
  S3 (s3rver)   ${stack.edgeVars.S3_ENDPOINT}  bucket ${stack.edgeVars.S3_BUCKET}
Press Ctrl-C to stop.`);

// wrangler dev never fires Cron Triggers: the cleanup of uploads never finished (edge/src/videos/cleanup.ts)
// runs through wrangler's trigger route, as the deployed Worker's */30 schedule would run it.
const CLEANUP_EVERY_MS = 15 * 60 * 1000;
setInterval(async () => {
  try {
    const res = await fetch(
      `${stack.edgeUrl}/cdn-cgi/local/scheduled?cron=${encodeURIComponent("*/30 * * * *")}`,
    );
    await res.body?.cancel();
    if (!res.ok) say(`dev: the scheduled cleanup answered ${res.status}`);
  } catch (err) {
    if (!signals.stopping) say(`dev: the scheduled cleanup failed: ${(err as Error).message}`);
  }
}, CLEANUP_EVERY_MS).unref();
