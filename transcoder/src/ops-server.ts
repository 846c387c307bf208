import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { DASHBOARD_PATH, type Dashboard } from "./dashboard.ts";
import { METRICS_CONTENT_TYPE, type TranscoderMetrics } from "./metrics.ts";

/** "ok" is the only state an orchestrator should route to or leave running; every other one answers 503. */
export type HealthStatus = "ok" | "starting" | "redis_down" | "draining";

export interface HealthState {
  status: HealthStatus;
  /** The encoder in use ("nvenc" | "x264"), null before the start-up probe has chosen. */
  encoder: string | null;
  jobsInProgress: number;
}

export interface HealthInputs {
  /** worker.waitUntilReady() has resolved. */
  ready: boolean;
  /** SIGTERM received: finishing current jobs, taking no new ones. */
  draining: boolean;
  /** The worker's ioredis connection status ("ready" when usable). */
  redisStatus: string;
  encoder: string | null;
  jobsInProgress: number;
}

/** Folds the worker's facts into one health state; draining wins so a stopping node leaves rotation first. */
export function deriveHealth(i: HealthInputs): HealthState {
  const status: HealthStatus = i.draining
    ? "draining"
    : !i.ready
      ? "starting"
      : i.redisStatus !== "ready"
        ? "redis_down"
        : "ok";
  return { status, encoder: i.encoder, jobsInProgress: i.jobsInProgress };
}

export interface OpsServerOptions {
  port: number;
  /** Defaults to 0.0.0.0 so a container's published port and HEALTHCHECK both reach it. */
  host?: string;
  metrics: Pick<TranscoderMetrics, "render">;
  health: () => HealthState;
  /** The queue dashboard under /queues (it asks for its own token); without it /queues answers 404. */
  dashboard?: Pick<Dashboard, "handle">;
  /** Told about render/health failures; the response is a 500/503 either way. */
  onError?: (err: unknown) => void;
}

export interface OpsServer {
  /** Base URL, e.g. http://127.0.0.1:9464 (a wildcard host is reported as loopback). */
  url: string;
  close(): Promise<void>;
}

function send(res: ServerResponse, head: boolean, status: number, type: string, body: string): void {
  res.writeHead(status, {
    "content-type": type,
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
  });
  res.end(head ? undefined : body);
}

const JSON_TYPE = "application/json; charset=utf-8";

/**
 * /healthz and /metrics on their own port, apart from anything a job touches, for orchestrators and
 * Prometheus; the operators' queue dashboard beside them when one is given.
 */
export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const { metrics, health, dashboard, onError = () => {} } = options;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const [path = "/"] = (req.url ?? "/").split("?");
    const head = req.method === "HEAD";
    if (dashboard && (path === DASHBOARD_PATH || path.startsWith(`${DASHBOARD_PATH}/`))) {
      await dashboard.handle(req, res);
      return;
    }
    if (path !== "/healthz" && path !== "/metrics") {
      send(res, head, 404, JSON_TYPE, JSON.stringify({ error: "not_found" }));
      return;
    }
    if (req.method !== "GET" && !head) {
      res.setHeader("allow", "GET, HEAD");
      send(res, false, 405, JSON_TYPE, JSON.stringify({ error: "method_not_allowed" }));
      return;
    }
    if (path === "/healthz") {
      let state: HealthState;
      try {
        state = health();
      } catch (err) {
        onError(err);
        send(res, head, 503, JSON_TYPE, JSON.stringify({ status: "error", draining: false }));
        return;
      }
      const body = { ...state, draining: state.status === "draining" };
      send(res, head, state.status === "ok" ? 200 : 503, JSON_TYPE, JSON.stringify(body));
      return;
    }
    try {
      send(res, head, 200, METRICS_CONTENT_TYPE, await metrics.render());
    } catch (err) {
      onError(err);
      send(res, head, 500, "text/plain; charset=utf-8", "metrics unavailable\n");
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      onError(err);
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  // Malformed HTTP gets a 400 and a closed socket rather than an unhandled error.
  server.on("clientError", (_err, socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n");
    else socket.destroy();
  });

  const host = options.host ?? "0.0.0.0";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, host, () => {
      server.off("error", reject);
      server.on("error", onError);
      resolve();
    });
  });
  const { port, family } = server.address() as AddressInfo;
  const shownHost =
    host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "[::1]" : family === "IPv6" ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
