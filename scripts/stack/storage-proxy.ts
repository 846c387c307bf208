/**
 * A counting HTTP proxy in front of the local S3 server: the edge's S3_ENDPOINT points here, so every
 * storage request the edge (or a transcoder) makes passes through and object GETs are counted by key.
 * `latencyMs` holds each object GET that long before forwarding it: a remote bucket's time to first byte
 * (s3rver on loopback answers in about a millisecond, which no real bucket does).
 * For code that cannot call into this process (tests running inside workerd): `GET /__proxy/gets?key=K`
 * answers `{"gets": n, "bytes": b}` (b: the body bytes storage sent for K), and
 * `POST /__proxy/fail?prefix=P` makes every later object GET below P answer 500 (a storage outage).
 * Used by bench/delivery and the workers tests (origin shield, ranged downloads).
 */
import http from "node:http";

export interface StorageProxy {
  url: string;
  /** GETs of each object key (path-style: /<bucket>/<key>; requests with a query string are not object reads). */
  gets(key: string): number;
  /** Every GET of an object since the last reset, by key. */
  allGets(): Map<string, number>;
  /** Statuses the storage answered object GETs with since the last reset. */
  statuses(): Map<number, number>;
  /** Milliseconds from the first to the last GET of `key` since the last reset (0 for one GET). */
  spreadMs(key: string): number;
  reset(): void;
  close(): Promise<void>;
}

/** Starts the proxy on 127.0.0.1:`port`, forwarding to `target` (http://127.0.0.1:<s3 port>). */
export async function startStorageProxy(
  target: string,
  bucket: string,
  port: number,
  latencyMs = 0,
): Promise<StorageProxy> {
  const upstream = new URL(target);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  let counts = new Map<string, number>();
  let sent = new Map<string, number>();
  let statuses = new Map<number, number>();
  let seen = new Map<string, { first: number; last: number }>();
  const failing = new Set<string>();
  const prefix = `/${encodeURIComponent(bucket)}/`;

  const server = http.createServer((req, res) => {
    const url = req.url ?? "/";
    if (req.method === "GET" && url.startsWith("/__proxy/gets?")) {
      const asked = new URL(url, "http://proxy").searchParams.get("key") ?? "";
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ gets: counts.get(asked) ?? 0, bytes: sent.get(asked) ?? 0 }));
      return;
    }
    if (req.method === "POST" && url.startsWith("/__proxy/fail?")) {
      failing.add(new URL(url, "http://proxy").searchParams.get("prefix") ?? "");
      res.writeHead(204).end();
      return;
    }
    const objectGet = req.method === "GET" && !url.includes("?") && url.startsWith(prefix);
    const key = objectGet ? decodeURIComponent(url.slice(prefix.length)) : null;
    if (key !== null) {
      counts.set(key, (counts.get(key) ?? 0) + 1);
      const now = performance.now();
      seen.set(key, { first: seen.get(key)?.first ?? now, last: now });
    }
    if (key !== null && [...failing].some((prefix) => prefix !== "" && key.startsWith(prefix))) {
      res.writeHead(500, { "content-type": "application/xml" });
      res.end("<Error><Code>InternalError</Code><Message>failing on request</Message></Error>");
      return;
    }
    const send = () => {
      const forward = http.request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: url,
          headers: req.headers,
          agent,
        },
        (answer) => {
          if (key !== null)
            statuses.set(answer.statusCode ?? 0, (statuses.get(answer.statusCode ?? 0) ?? 0) + 1);
          if (key !== null)
            answer.on("data", (chunk: Buffer) => sent.set(key, (sent.get(key) ?? 0) + chunk.length));
          res.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
          answer.pipe(res);
        },
      );
      forward.on("error", (error) => {
        if (!res.headersSent) res.writeHead(502);
        res.end(String(error));
      });
      req.pipe(forward);
    };
    if (key !== null && latencyMs > 0) setTimeout(send, latencyMs);
    else send();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  return {
    url: `http://127.0.0.1:${port}`,
    gets: (key) => counts.get(key) ?? 0,
    allGets: () => new Map(counts),
    statuses: () => new Map(statuses),
    spreadMs(key) {
      const s = seen.get(key);
      return s ? Math.round((s.last - s.first) * 10) / 10 : 0;
    },
    reset() {
      counts = new Map();
      sent = new Map();
      statuses = new Map();
      seen = new Map();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
        agent.destroy();
      }),
  };
}
