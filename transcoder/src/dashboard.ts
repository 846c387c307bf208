import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { HonoAdapter } from "@bull-board/hono";
import { getRequestListener } from "@hono/node-server";
import { serveStatic } from "@hono/node-server/serve-static";
import { Queue } from "bullmq";
import { Hono } from "hono";
import { Redis } from "ioredis";

/** Where the ops server mounts the dashboard: the page, its static files and its JSON API (`/queues/api/...`). */
export const DASHBOARD_PATH = "/queues";

const REALM = "streamlet transcoder";

export interface DashboardOptions {
  redisUrl: string;
  /** OPS_DASHBOARD_TOKEN: the Basic auth password (any user name) or the Bearer token. */
  token: string;
  /** The BullMQ queues shown, e.g. TRANSCODE_QUEUE and CHUNK_QUEUE. */
  queueNames: readonly string[];
  /** BullMQ's key prefix (its default "bull" unless a test isolates itself). */
  prefix?: string;
  /** Told about failures inside the dashboard; the response is a 500 either way. */
  onError?: (err: unknown) => void;
}

export interface Dashboard {
  /** Answers a request under DASHBOARD_PATH: 401 without the token, the bull-board UI or API with it. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  close(): Promise<void>;
}

const digest = (s: string) => createHash("sha256").update(s).digest();

/** The password of Basic credentials (user:password in base64); the user name is not checked. */
function basicPassword(credentials: string): string | null {
  const decoded = Buffer.from(credentials, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return colon < 0 ? null : decoded.slice(colon + 1);
}

/**
 * Whether an Authorization header carries the token, as a Basic password (any user) or a Bearer token.
 * Compares fixed-length digests in constant time so neither the token nor its length leaks through timing.
 */
export function authorizationMatches(header: string | undefined, token: string): boolean {
  const [, scheme, credentials] = /^(basic|bearer)\s+(\S+)\s*$/i.exec(header ?? "") ?? [];
  if (!scheme || !credentials) return false;
  const presented = scheme.toLowerCase() === "bearer" ? credentials : basicPassword(credentials);
  return presented !== null && timingSafeEqual(digest(presented), digest(token));
}

/**
 * The queues (coordinators and chunks) in bull-board, read-only: operators see jobs, their data, logs and
 * errors, and every action (retry, remove, pause, clean, add) answers 405. Its own Redis connection gives
 * up on a command after one reconnect attempt, so a page load during an outage errors instead of hanging.
 */
export function createDashboard(options: DashboardOptions): Dashboard {
  const { token, onError = () => {} } = options;
  const connection = new Redis(options.redisUrl, { maxRetriesPerRequest: 1 });
  connection.on("error", () => {}); // /healthz reports Redis; the dashboard's API answers 500 meanwhile
  const queues = options.queueNames.map((name) => {
    const queue = new Queue(name, { connection, prefix: options.prefix });
    queue.on("error", () => {});
    return queue;
  });

  const serverAdapter = new HonoAdapter(serveStatic).setBasePath(DASHBOARD_PATH);
  createBullBoard({
    queues: queues.map((q) => new BullMQAdapter(q, { readOnlyMode: true })),
    serverAdapter,
    options: { uiConfig: { boardTitle: "Streamlet queues" } },
  });
  const app = new Hono({ strict: false }).route(DASHBOARD_PATH, serverAdapter.registerPlugin());
  app.onError((err, c) => {
    onError(err);
    return c.json({ error: "internal" }, 500);
  });
  // overrideGlobalObjects: false keeps the process's own Request/Response (fetch) untouched.
  const listener = getRequestListener(app.fetch, { overrideGlobalObjects: false });

  return {
    async handle(req, res) {
      if (!authorizationMatches(req.headers.authorization, token)) {
        const body = JSON.stringify({ error: "unauthorized" });
        res.writeHead(401, {
          "www-authenticate": [`Basic realm="${REALM}", charset="UTF-8"`, `Bearer realm="${REALM}"`],
          "content-type": "application/json; charset=utf-8",
          "content-length": Buffer.byteLength(body),
          "cache-control": "no-store",
        });
        res.end(req.method === "HEAD" ? undefined : body);
        return;
      }
      await listener(req, res);
    },
    async close() {
      await Promise.all(queues.map((q) => q.close().catch(() => undefined)));
      connection.disconnect();
    },
  };
}
