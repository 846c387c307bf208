/**
 * A stand-in for Cloudflare's purge API (POST /zones/:zone/purge_cache), for the integration tests only:
 * the real API cannot be reached from CI, and purging a real zone is not something a test may do. It
 * checks the bearer token like the real one, records every request, and answers in the API's envelope.
 * GET /__requests returns what it recorded so far.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type PurgeRequest = { zoneId: string; authorized: boolean; body: unknown; at: number };

export async function startFakeCloudflareApi(expected: { zoneId: string; token: string }) {
  const requests: PurgeRequest[] = [];
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      if (req.method === "GET" && req.url === "/__requests") return json(res, 200, requests);
      const match = /^\/client\/v4\/zones\/([^/]+)\/purge_cache$/.exec(req.url ?? "");
      if (req.method !== "POST" || !match) return json(res, 404, { success: false, errors: [] });
      let body: unknown = null;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        body = null;
      }
      const authorized = req.headers.authorization === `Bearer ${expected.token}`;
      requests.push({ zoneId: match[1] ?? "", authorized, body, at: Date.now() });
      if (!authorized) {
        return json(res, 403, { success: false, errors: [{ code: 10000, message: "Authentication error" }] });
      }
      if (match[1] !== expected.zoneId) {
        return json(res, 404, { success: false, errors: [{ code: 7003, message: "No route for that URI" }] });
      }
      return json(res, 200, { success: true, errors: [], messages: [], result: { id: expected.zoneId } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    /** What CLOUDFLARE_API_BASE should be. */
    apiBase: `http://127.0.0.1:${port}/client/v4`,
    requestsUrl: `http://127.0.0.1:${port}/__requests`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
