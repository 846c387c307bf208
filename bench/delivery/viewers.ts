/** Concurrent viewers: N clients fetching one URL at the same instant, timed to the last byte. */
import { createHash } from "node:crypto";
import http from "node:http";

export interface Fetched {
  ms: number;
  status: number;
  bytes: number;
  sha256: string;
}

export interface Summary {
  samples: number;
  p50: number;
  p95: number;
  max: number;
}

/** One keep-alive connection per viewer, kept across rounds (as players keep theirs). */
export function viewerAgent(viewers: number) {
  return new http.Agent({ keepAlive: true, maxSockets: viewers, maxFreeSockets: viewers });
}

/** `viewers` GETs of `url` started together; each timed from its start to the end of its body. */
export async function fetchTogether(
  url: string,
  viewers: number,
  agent: http.Agent,
  opts: { hash?: boolean } = {},
): Promise<Fetched[]> {
  return Promise.all(Array.from({ length: viewers }, () => get(url, agent, opts.hash ?? true)));
}

/**
 * One GET over node:http (less client overhead than fetch on a 2-core machine): time, status and, when
 * `hash`, the body's SHA-256 (left out of latency rounds: hashing competes for the same 2 cores).
 */
function get(url: string, agent: http.Agent, hash: boolean, started = performance.now()): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent }, (res) => {
      const digest = hash ? createHash("sha256") : null;
      let bytes = 0;
      res.on("data", (chunk: Buffer) => {
        digest?.update(chunk);
        bytes += chunk.byteLength;
      });
      res.on("end", () => {
        const ms = performance.now() - started;
        resolve({ ms, status: res.statusCode ?? 0, bytes, sha256: digest?.digest("hex") ?? "" });
      });
      res.on("error", reject);
    });
    req.on("error", (error: NodeJS.ErrnoException) => {
      // A kept-alive connection the server closed while idle (Node's documented retry case): once more,
      // timed from the first attempt.
      if (req.reusedSocket && error.code === "ECONNRESET")
        get(url, agent, hash, started).then(resolve, reject);
      else reject(error);
    });
  });
}

/** p50/p95/max in ms, two decimals; nearest-rank percentiles. */
export function summarize(values: number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) =>
    sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
  const r = (n: number) => Math.round(n * 100) / 100;
  return { samples: sorted.length, p50: r(at(0.5)), p95: r(at(0.95)), max: r(sorted.at(-1) ?? Number.NaN) };
}

/** True when every viewer got a 200 with the same bytes. */
export function allSame(results: Fetched[]): boolean {
  const first = results[0];
  return (
    first !== undefined &&
    results.every((r) => r.status === 200 && r.sha256 === first.sha256 && r.bytes === first.bytes)
  );
}
