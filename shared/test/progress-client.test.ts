import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { BEARER_PROTOCOL_PREFIX, EVENTS_PROTOCOL, type ProgressEvent, SEQ_EPOCH } from "../src/index.ts";
import {
  eventsUrl,
  type ProgressClientError,
  type SubscribeOptions,
  subscribeToProgress,
  waitForTerminalEvent,
} from "../src/progress-client.ts";
import { rendition720p } from "./fixtures/renditions.ts";

const TOKEN = "header.payload.signature";
const at = 1_700_000_000_000;
const queued: ProgressEvent = { type: "queued", seq: 0, at };
const downloading = (n: number, percent: number): ProgressEvent => ({
  type: "downloading",
  seq: SEQ_EPOCH + n,
  at,
  bytes: percent,
  totalBytes: 100,
  percent,
});
const ready = (n: number): ProgressEvent => ({
  type: "ready",
  seq: SEQ_EPOCH + n,
  at,
  durationSeconds: 8,
  sourceWidth: 1280,
  sourceHeight: 720,
  renditions: [rendition720p],
});

/** A local `ws` server playing the video's DO for subscribers: snapshot or replay on join, then live events. */
async function startFakeEvents(videoId: string) {
  const log: ProgressEvent[] = [];
  const urls: string[] = [];
  const offered: string[][] = [];
  const sockets = new Set<WebSocket>();
  const wss = new WebSocketServer({
    host: "127.0.0.1",
    port: 0,
    handleProtocols: (protocols) => (protocols.has(EVENTS_PROTOCOL) ? EVENTS_PROTOCOL : false),
    verifyClient: (info, done) => {
      const protocols = (info.req.headers["sec-websocket-protocol"] ?? "").split(",").map((p) => p.trim());
      offered.push(protocols);
      urls.push(info.req.url ?? "");
      const path = new URL(info.req.url ?? "", "http://x").pathname;
      const ok =
        path === `/v1/videos/${videoId}/events` && protocols.includes(BEARER_PROTOCOL_PREFIX + TOKEN);
      done(ok, ok ? undefined : 401);
    },
  });
  await new Promise<void>((resolve) => wss.once("listening", resolve));
  wss.on("connection", (ws, req) => {
    sockets.add(ws);
    ws.on("close", () => sockets.delete(ws));
    const since = new URL(req.url ?? "", "http://x").searchParams.get("since");
    if (since === null) {
      ws.send(JSON.stringify({ type: "snapshot", event: log.at(-1) ?? null }));
    } else {
      for (const event of log.filter((e) => e.seq > Number(since)))
        ws.send(JSON.stringify({ type: "event", event }));
    }
  });
  return {
    url: `http://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    urls,
    offered,
    log,
    sockets,
    /** Stores an event and sends it to everyone connected. */
    publish(event: ProgressEvent) {
      log.push(event);
      this.raw(JSON.stringify({ type: "event", event }));
    },
    raw(frame: string | Buffer) {
      for (const ws of sockets) ws.send(frame);
    },
    dropAll() {
      for (const ws of sockets) ws.terminate();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const ws of sockets) ws.terminate();
        wss.close(() => resolve());
      }),
  };
}

async function until(check: () => boolean, what: string, timeoutMs = 3000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

let server: Awaited<ReturnType<typeof startFakeEvents>>;
const subscriptions: { close(): void }[] = [];
beforeEach(async () => {
  server = await startFakeEvents("vid_1");
});
afterEach(async () => {
  for (const s of subscriptions.splice(0)) s.close();
  await server.close();
});

function subscribe(overrides: Partial<SubscribeOptions> = {}) {
  const events: ProgressEvent[] = [];
  const snapshots: (ProgressEvent | null)[] = [];
  const errors: ProgressClientError[] = [];
  const sub = subscribeToProgress({
    baseUrl: server.url,
    videoId: "vid_1",
    accessToken: TOKEN,
    WebSocket,
    minReconnectDelayMs: 20,
    maxReconnectDelayMs: 100,
    onEvent: (e) => events.push(e),
    onSnapshot: (e) => snapshots.push(e),
    onError: (e) => errors.push(e),
    ...overrides,
  });
  subscriptions.push(sub);
  return { sub, events, snapshots, errors };
}

describe("eventsUrl", () => {
  it("maps http(s) to ws(s) and adds since only when given", () => {
    expect(eventsUrl("https://edge.example/", "v 1")).toBe("wss://edge.example/v1/videos/v%201/events");
    expect(eventsUrl("http://127.0.0.1:8787", "v", 0)).toBe("ws://127.0.0.1:8787/v1/videos/v/events?since=0");
  });
});

describe("subscribeToProgress against a fake DO", () => {
  it("offers the events protocol and the token as subprotocols, never in the URL", async () => {
    const { snapshots } = subscribe();
    await until(() => snapshots.length === 1, "the snapshot");
    expect(server.offered[0]).toEqual([EVENTS_PROTOCOL, `${BEARER_PROTOCOL_PREFIX}${TOKEN}`]);
    expect(server.urls[0]).toBe("/v1/videos/vid_1/events");
    expect(server.urls[0]).not.toContain(TOKEN);
    expect(snapshots).toEqual([null]);
  });

  it("delivers the snapshot's event, then live events in order", async () => {
    server.log.push(queued, downloading(1, 10));
    const { events, snapshots } = subscribe();
    await until(() => events.length === 1, "the snapshot event");
    expect(snapshots).toEqual([downloading(1, 10)]);
    server.publish(downloading(2, 20));
    server.publish({ type: "probing", seq: SEQ_EPOCH + 3, at });
    await until(() => events.length === 3, "two live events");
    expect(events.map((e) => e.seq)).toEqual([SEQ_EPOCH + 1, SEQ_EPOCH + 2, SEQ_EPOCH + 3]);
  });

  it("reconnects with since=<last seq seen> and gets exactly what it missed", async () => {
    server.log.push(queued);
    const { sub, events } = subscribe();
    await until(() => events.length === 1, "queued");
    server.publish(downloading(1, 10));
    await until(() => events.length === 2, "downloading");
    server.dropAll();
    // Published while the subscriber is away: replayed on reconnect.
    server.log.push(downloading(2, 50), { type: "probing", seq: SEQ_EPOCH + 3, at });
    await until(() => events.length === 4, "the replay");
    expect(server.urls.at(-1)).toBe(`/v1/videos/vid_1/events?since=${SEQ_EPOCH + 1}`);
    expect(events.map((e) => e.seq)).toEqual([0, SEQ_EPOCH + 1, SEQ_EPOCH + 2, SEQ_EPOCH + 3]);
    expect(sub.lastSeq).toBe(SEQ_EPOCH + 3);
  });

  it("resumes from a given since on the first connection (after queued, seq 0)", async () => {
    server.log.push(queued, downloading(1, 5));
    const { events, snapshots } = subscribe({ since: 0 });
    await until(() => events.length === 1, "the replay");
    expect(server.urls[0]).toBe("/v1/videos/vid_1/events?since=0");
    expect(snapshots).toEqual([]);
    expect(events).toEqual([downloading(1, 5)]);
  });

  it("drops duplicates and anything at or below the last seq", async () => {
    const { events } = subscribe();
    await until(() => server.sockets.size === 1, "the connection");
    server.publish(downloading(2, 20));
    server.raw(JSON.stringify({ type: "event", event: downloading(2, 20) }));
    server.raw(JSON.stringify({ type: "event", event: downloading(1, 10) }));
    server.raw(JSON.stringify({ type: "snapshot", event: downloading(2, 20) }));
    server.publish(downloading(3, 30));
    await until(() => events.some((e) => e.seq === SEQ_EPOCH + 3), "the next new event");
    expect(events.map((e) => e.seq)).toEqual([SEQ_EPOCH + 2, SEQ_EPOCH + 3]);
  });

  it("ignores garbage and unknown frames", async () => {
    const { events, errors } = subscribe();
    await until(() => server.sockets.size === 1, "the connection");
    server.raw("not json");
    server.raw('{"type":"hello"}');
    server.raw(JSON.stringify({ type: "event", event: { ...downloading(1, 10), percent: 400 } }));
    server.raw(Buffer.from([1, 2, 3]));
    server.raw('{"type":"pong"}');
    server.publish(downloading(4, 40));
    await until(() => events.length === 1, "the valid event");
    expect(events).toEqual([downloading(4, 40)]);
    expect(errors).toEqual([]);
  });

  it("passes the edge's error frames to onError", async () => {
    const { errors } = subscribe();
    await until(() => server.sockets.size === 1, "the connection");
    server.raw(JSON.stringify({ type: "error", code: "invalid_message", message: "subscribers only ping" }));
    await until(() => errors.length === 1, "the error");
    expect(errors[0]).toEqual({ kind: "server", code: "invalid_message", message: "subscribers only ping" });
  });

  it("reads a token function again on every connection", async () => {
    let calls = 0;
    const { events } = subscribe({
      accessToken: async () => {
        calls += 1;
        return TOKEN;
      },
    });
    await until(() => server.sockets.size === 1, "the connection");
    server.publish(downloading(1, 1));
    await until(() => events.length === 1, "an event");
    server.dropAll();
    await until(() => server.offered.length === 2 && server.sockets.size === 1, "the reconnect");
    expect(calls).toBe(2);
  });

  it("stops after the terminal event: no reconnect once ready arrived", async () => {
    const { events } = subscribe();
    await until(() => server.sockets.size === 1, "the connection");
    server.publish(ready(9));
    await until(() => events.length === 1, "ready");
    await until(() => server.sockets.size === 0, "the client to close");
    await new Promise((r) => setTimeout(r, 150));
    expect(server.urls).toHaveLength(1);
  });

  it("a refused token surfaces as a socket error; with maxRetries it gives up", async () => {
    const errors: ProgressClientError[] = [];
    const err = await waitForTerminalEvent({
      baseUrl: server.url,
      videoId: "vid_1",
      accessToken: "someone-elses",
      WebSocket,
      minReconnectDelayMs: 10,
      maxRetries: 2,
      onError: (e) => errors.push(e),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/gave up: .*401/);
    expect(errors.map((e) => e.kind === "socket" && e.willRetry)).toEqual([true, true, false]);
    expect(server.sockets.size).toBe(0);
  });
});

describe("waitForTerminalEvent", () => {
  it("resolves with ready after passing every event on, and closes the socket", async () => {
    const seen: number[] = [];
    const done = waitForTerminalEvent({
      baseUrl: server.url,
      videoId: "vid_1",
      accessToken: TOKEN,
      WebSocket,
      onEvent: (e) => seen.push(e.seq),
    });
    await until(() => server.sockets.size === 1, "the connection");
    server.publish(downloading(1, 50));
    server.publish(ready(2));
    expect(await done).toEqual(ready(2));
    expect(seen).toEqual([SEQ_EPOCH + 1, SEQ_EPOCH + 2]);
    await until(() => server.sockets.size === 0, "the close");
  });

  it("joining after the end resolves at once from the snapshot", async () => {
    server.log.push(queued, ready(7));
    const started = Date.now();
    const failed = { type: "failed", seq: SEQ_EPOCH + 8, at, reason: "bad" } as const;
    expect(
      await waitForTerminalEvent({ baseUrl: server.url, videoId: "vid_1", accessToken: TOKEN, WebSocket }),
    ).toEqual(ready(7));
    server.log.push(failed);
    expect(
      await waitForTerminalEvent({ baseUrl: server.url, videoId: "vid_1", accessToken: TOKEN, WebSocket }),
    ).toEqual(failed);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("rejects after timeoutMs", async () => {
    const err = await waitForTerminalEvent({
      baseUrl: server.url,
      videoId: "vid_1",
      accessToken: TOKEN,
      WebSocket,
      timeoutMs: 200,
    }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/no ready\/failed event for video vid_1 within 200 ms/);
  });
});
