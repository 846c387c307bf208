import { randomUUID } from "node:crypto";
import { TRANSCODE_QUEUE } from "@streamlet/shared";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHUNK_QUEUE } from "../src/chunked/types.ts";
import { authorizationMatches, createDashboard, type Dashboard } from "../src/dashboard.ts";
import { createMetrics } from "../src/metrics.ts";
import { type OpsServer, startOpsServer } from "../src/ops-server.ts";
import { hasRedisServer, startRedis } from "./helpers/redis.ts";

const TOKEN = "a-dashboard-token-of-32-chars!!!";
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

describe("authorizationMatches", () => {
  it.each([
    [`Bearer ${TOKEN}`, true],
    [`bearer ${TOKEN}`, true],
    [basic("ops", TOKEN), true],
    [basic("", TOKEN), true],
    [`basic ${Buffer.from(`anyone:${TOKEN}`).toString("base64")}`, true],
    [undefined, false],
    ["", false],
    [TOKEN, false],
    [`Bearer ${TOKEN}x`, false],
    [`Bearer ${TOKEN.slice(0, -1)}`, false],
    [`Bearer ${TOKEN} extra`, false],
    [`Bearer`, false],
    [basic(TOKEN, "wrong"), false],
    [`Basic ${Buffer.from(TOKEN).toString("base64")}`, false], // no colon: no password
    ["Basic !!!not-base64!!!", false],
    [`Digest ${TOKEN}`, false],
  ])("%s -> %s", (header, expected) => {
    expect(authorizationMatches(header, TOKEN)).toBe(expected);
  });

  it("accepts a password that itself holds a colon", () => {
    const token = "with:a:colon-and-24-chars-at-least";
    expect(authorizationMatches(basic("ops", token), token)).toBe(true);
  });
});

describe.skipIf(!hasRedisServer)("the queue dashboard on the ops server (real Redis, bull-board)", () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let connection: Redis;
  let dashboard: Dashboard;
  let server: OpsServer;
  const prefix = `dashboard-test-${randomUUID()}`;
  const queues: Queue[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const coordinators = new Queue(TRANSCODE_QUEUE, { connection, prefix });
    const chunks = new Queue(CHUNK_QUEUE, { connection, prefix });
    queues.push(coordinators, chunks);
    await coordinators.add("transcode", { videoId: "v1" }, { jobId: "v1" });
    await chunks.add("chunk", { videoId: "v1", index: 3 }, { jobId: "v1-3" });
    dashboard = createDashboard({
      redisUrl: redis.url,
      token: TOKEN,
      queueNames: [TRANSCODE_QUEUE, CHUNK_QUEUE],
      prefix,
    });
    server = await startOpsServer({
      port: 0,
      host: "127.0.0.1",
      metrics: createMetrics(),
      health: () => ({ status: "ok", encoder: "x264", jobsInProgress: 0 }),
      dashboard,
    });
  }, 30_000);

  afterAll(async () => {
    await server?.close();
    await dashboard?.close();
    for (const q of queues) await q.obliterate({ force: true }).catch(() => undefined);
    for (const q of queues) await q.close();
    connection?.disconnect();
    await redis?.stop();
  });

  it.each([
    ["no credentials", undefined],
    ["a wrong Bearer token", "Bearer not-the-token-but-long-enough-anyway"],
    ["a wrong Basic password", basic("ops", "not-the-token-but-long-enough-anyway")],
  ])("answers 401 with a challenge to %s", async (_, authorization) => {
    for (const path of ["/queues", "/queues/api/queues", "/queues/static/images/logo.svg"]) {
      const res = await fetch(`${server.url}${path}`, {
        headers: authorization ? { authorization } : {},
      });
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toMatch(/^Basic realm="[^"]+"/);
      expect(res.headers.get("www-authenticate")).toContain("Bearer");
      expect(await res.json()).toEqual({ error: "unauthorized" });
    }
  });

  it("serves the page and its static files with the token as a Basic password (any user)", async () => {
    const headers = { authorization: basic("anyone", TOKEN) };
    const page = await fetch(`${server.url}/queues`, { headers });
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toContain("Streamlet queues");
    // The page's own script and stylesheet, relative to <base href="/queues/">: @bull-board/ui's files.
    expect(html).toContain('<base href="/queues/"');
    const script = /src="(static\/js\/main\.[^"]+\.js)"/.exec(html)?.[1];
    const style = /href="(static\/css\/[^"]+\.css)"/.exec(html)?.[1];
    const js = await fetch(`${server.url}/queues/${script}`, { headers });
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toMatch(/javascript/);
    expect((await js.text()).length).toBeGreaterThan(1000);
    const css = await fetch(`${server.url}/queues/${style}`, { headers });
    expect(css.status).toBe(200);
    expect(css.headers.get("content-type")).toMatch(/^text\/css/);
    expect((await fetch(`${server.url}/queues/static/js/missing.js`, { headers })).status).toBe(404);
    expect((await fetch(`${server.url}/queues/`, { headers })).status).toBe(200);
    expect((await fetch(`${server.url}/queues/queue/${CHUNK_QUEUE}`, { headers })).status).toBe(200);
  });

  it("lists both queues and the chunk job through the JSON API with a Bearer token", async () => {
    const headers = { authorization: `Bearer ${TOKEN}` };
    const res = await fetch(
      `${server.url}/queues/api/queues?activeQueue=${CHUNK_QUEUE}&status=latest&page=1&jobsPerPage=10`,
      { headers },
    );
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      queues: Array<{ name: string; readOnlyMode: boolean; counts: Record<string, number>; jobs: unknown[] }>;
    };
    expect(body.queues.map((q) => q.name).sort()).toEqual([CHUNK_QUEUE, TRANSCODE_QUEUE].sort());
    const chunkQueue = body.queues.find((q) => q.name === CHUNK_QUEUE);
    expect(chunkQueue).toMatchObject({ readOnlyMode: true, counts: { waiting: 1 } });
    expect(chunkQueue?.jobs).toEqual([
      expect.objectContaining({ id: "v1-3", name: "chunk", data: { videoId: "v1", index: 3 } }),
    ]);
    expect(body.queues.find((q) => q.name === TRANSCODE_QUEUE)?.counts).toMatchObject({ waiting: 1 });
  });

  it("is read-only: actions answer 405 and change nothing", async () => {
    const headers = { authorization: `Bearer ${TOKEN}` };
    const pause = await fetch(`${server.url}/queues/api/queues/${CHUNK_QUEUE}/pause`, {
      method: "PUT",
      headers,
    });
    expect(pause.status).toBe(405);
    const remove = await fetch(`${server.url}/queues/api/queues/${CHUNK_QUEUE}/v1-3/clean`, {
      method: "PUT",
      headers,
    });
    expect(remove.status).toBe(405);
    const empty = await fetch(`${server.url}/queues/api/queues/${CHUNK_QUEUE}/empty`, {
      method: "PUT",
      headers,
    });
    expect(empty.status).toBe(405);
    expect(await queues[1]?.isPaused()).toBe(false);
    expect(await queues[1]?.getJobCounts("waiting")).toEqual({ waiting: 1 });
  });

  it("leaves /healthz and /metrics open", async () => {
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.url}/metrics`)).status).toBe(200);
    expect((await fetch(`${server.url}/queuesx`)).status).toBe(404);
  });
});
