import type { IncomingMessage, ServerResponse } from "node:http";
import { connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createMetrics } from "../src/metrics.ts";
import { deriveHealth, type HealthState, type OpsServer, startOpsServer } from "../src/ops-server.ts";

const ok: HealthState = { status: "ok", encoder: "nvenc", jobsInProgress: 2 };

describe("ops server", () => {
  let server: OpsServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  const start = async (health: () => HealthState, metrics = createMetrics()) => {
    server = await startOpsServer({ port: 0, host: "127.0.0.1", metrics, health });
    return server.url;
  };

  it("answers /healthz 200 with the worker's state while it is healthy", async () => {
    const url = await start(() => ok);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(`${url}/healthz`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({ status: "ok", encoder: "nvenc", jobsInProgress: 2, draining: false });
  });

  it.each(["starting", "redis_down", "draining"] as const)(
    "answers /healthz 503 while %s",
    async (status) => {
      const url = await start(() => ({ status, encoder: null, jobsInProgress: 0 }));
      const res = await fetch(`${url}/healthz?probe=1`);
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({
        status,
        encoder: null,
        jobsInProgress: 0,
        draining: status === "draining",
      });
    },
  );

  it("answers 503, not a crash, when the health callback throws", async () => {
    const url = await start(() => {
      throw new Error("boom");
    });
    const res = await fetch(`${url}/healthz`);
    expect(res.status).toBe(503);
    expect((await res.json()).status).toBe("error");
  });

  it("serves /metrics in the Prometheus text format", async () => {
    const metrics = createMetrics();
    metrics.jobStarted("7");
    const url = await start(() => ok, metrics);
    const res = await fetch(`${url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const text = await res.text();
    expect(text).toContain("# TYPE streamlet_transcoder_jobs_total counter\n");
    expect(text).toContain("streamlet_transcoder_jobs_in_progress 1\n");
    expect(text).toContain("# TYPE process_start_time_seconds gauge\n");
    expect(text).not.toMatch(/job_id|video_id/);
  });

  it("answers 500 when rendering fails, and keeps serving", async () => {
    let fail = true;
    const metrics = {
      render: async () => {
        if (fail) throw new Error("boom");
        return "x 1\n";
      },
    };
    server = await startOpsServer({ port: 0, host: "127.0.0.1", metrics, health: () => ok });
    expect((await fetch(`${server.url}/metrics`)).status).toBe(500);
    fail = false;
    expect(await (await fetch(`${server.url}/metrics`)).text()).toBe("x 1\n");
  });

  it("supports HEAD with headers and no body", async () => {
    const url = await start(() => ok);
    const res = await fetch(`${url}/metrics`, { method: "HEAD" });
    expect(res.status).toBe(200);
    expect(Number(res.headers.get("content-length"))).toBeGreaterThan(0);
    expect(await res.text()).toBe("");
    expect((await fetch(`${url}/healthz`, { method: "HEAD" })).status).toBe(200);
  });

  it("answers 404 for other paths and 405 for other methods", async () => {
    const url = await start(() => ok);
    expect((await fetch(`${url}/`)).status).toBe(404);
    expect((await fetch(`${url}/healthz/extra`)).status).toBe(404);
    const post = await fetch(`${url}/metrics`, { method: "POST", body: "x" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
  });

  it("answers 404 under /queues when no dashboard is given (OPS_DASHBOARD_TOKEN unset)", async () => {
    const url = await start(() => ok);
    for (const path of ["/queues", "/queues/", "/queues/api/queues", "/queues/static/images/logo.svg"]) {
      const res = await fetch(`${url}${path}`, { headers: { authorization: "Bearer anything" } });
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ error: "not_found" });
    }
  });

  it("hands /queues and everything under it (any method) to the dashboard, nothing else", async () => {
    const seen: string[] = [];
    const dashboard = {
      handle: async (req: IncomingMessage, res: ServerResponse) => {
        seen.push(`${req.method} ${req.url}`);
        res.writeHead(418).end();
      },
    };
    server = await startOpsServer({
      port: 0,
      host: "127.0.0.1",
      metrics: createMetrics(),
      health: () => ok,
      dashboard,
    });
    expect((await fetch(`${server.url}/queues`)).status).toBe(418);
    expect((await fetch(`${server.url}/queues/api/queues?x=1`)).status).toBe(418);
    expect((await fetch(`${server.url}/queues/api/queues/q/pause`, { method: "PUT" })).status).toBe(418);
    expect((await fetch(`${server.url}/queuesx`)).status).toBe(404);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.url}/metrics`)).status).toBe(200);
    expect(seen).toEqual(["GET /queues", "GET /queues/api/queues?x=1", "PUT /queues/api/queues/q/pause"]);
  });

  it("answers 500 and tells onError when the dashboard throws", async () => {
    const errors: unknown[] = [];
    const dashboard = {
      handle: async () => {
        throw new Error("boom");
      },
    };
    server = await startOpsServer({
      port: 0,
      host: "127.0.0.1",
      metrics: createMetrics(),
      health: () => ok,
      dashboard,
      onError: (err) => errors.push(err),
    });
    expect((await fetch(`${server.url}/queues`)).status).toBe(500);
    expect(errors).toHaveLength(1);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it("answers malformed HTTP with 400 and keeps serving", async () => {
    const url = await start(() => ok);
    const { port } = new URL(url);
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), "127.0.0.1", () => socket.write("NOT HTTP AT ALL\r\n\r\n"));
      let data = "";
      socket.on("data", (d) => {
        data += d.toString();
      });
      socket.on("end", () => resolve(data));
      socket.on("error", reject);
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400/);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it("reports a wildcard host as loopback and fails to start on a taken port", async () => {
    server = await startOpsServer({ port: 0, metrics: createMetrics(), health: () => ok });
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    const { port } = new URL(server.url);
    await expect(
      startOpsServer({ port: Number(port), metrics: createMetrics(), health: () => ok }),
    ).rejects.toThrow(/EADDRINUSE/);
  });

  it("closes promptly even with a keep-alive connection open", async () => {
    const url = await start(() => ok);
    await fetch(`${url}/healthz`); // undici keeps this connection alive
    const t = Date.now();
    await server?.close();
    server = undefined;
    expect(Date.now() - t).toBeLessThan(1000);
  });
});

describe("deriveHealth", () => {
  const base = { ready: true, draining: false, redisStatus: "ready", encoder: "x264", jobsInProgress: 1 };
  it.each([
    [{}, "ok"],
    [{ ready: false }, "starting"],
    [{ redisStatus: "reconnecting" }, "redis_down"],
    [{ ready: false, redisStatus: "connecting" }, "starting"],
    [{ draining: true, redisStatus: "end" }, "draining"],
  ] as const)("%o -> %s", (override, status) => {
    expect(deriveHealth({ ...base, ...override })).toEqual({ status, encoder: "x264", jobsInProgress: 1 });
  });
});
