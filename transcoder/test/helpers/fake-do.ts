/**
 * A real WebSocket server (the `ws` package) that plays the edge's VideoProgress Durable Object for the
 * transcoder's unit tests. It exists because these tests must make the far side misbehave on demand
 * (drop the connection mid-stream, delay or withhold acks, refuse the upgrade, fail a Postgres write),
 * which the real DO cannot be told to do; the real DO is exercised end to end in
 * edge/test/integration/progress.test.ts and inside workerd in edge/test/workers/progress.test.ts.
 */
import type { IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import {
  CLOSE_VIDEO_DELETED,
  CLOSE_VIDEO_DELETED_REASON,
  PROGRESS_TOKEN_HEADER,
  type ProgressEvent,
  parseClientMessage,
  publisherPath,
  VIDEO_DELETED,
} from "@streamlet/shared";
import { type WebSocket, WebSocketServer } from "ws";

export interface Received {
  event: ProgressEvent;
  /** Date.now() when the frame arrived. */
  at: number;
  /** Which connection (1-based) carried it. */
  connection: number;
}

/** How the fake DO behaves; tests flip these between steps. */
export interface FakeDoBehaviour {
  /** Answer the upgrade with this HTTP status instead of accepting it. */
  refuse?: number;
  /** Ack stored events (false: swallow them silently). */
  ack: boolean;
  /** Delay before each ack. */
  ackDelayMs?: number;
  /** Send every ack twice. */
  duplicateAcks?: boolean;
  /** Terminate the connection (no close frame) after this many frames arrived on it, once. */
  dropAfter?: number;
  /** Answer this many terminal events with `persist_failed` (as when Postgres is down) before acking. */
  failTerminal?: number;
}

/**
 * A local `ws` server that plays the video's Durable Object for the publisher: checks the headers,
 * records and acks every event (a duplicate is acked too) and misbehaves on request.
 */
export async function startFakeDo(expected: { secret: string; token: string; videoId: string }) {
  const behaviour: FakeDoBehaviour = { ack: true };
  const received: Received[] = [];
  const headers: IncomingHttpHeaders[] = [];
  const sockets = new Set<WebSocket>();
  let connections = 0;
  const wss = new WebSocketServer({
    host: "127.0.0.1",
    port: 0,
    verifyClient: (info, done) => {
      headers.push(info.req.headers);
      if (behaviour.refuse) return done(false, behaviour.refuse);
      const path = publisherPath(expected.videoId);
      const ok =
        info.req.url === path &&
        info.req.headers.authorization === `Bearer ${expected.secret}` &&
        info.req.headers[PROGRESS_TOKEN_HEADER.toLowerCase()] === expected.token;
      done(ok, ok ? undefined : 401);
    },
  });
  await new Promise<void>((resolve) => wss.once("listening", resolve));
  wss.on("connection", (ws) => {
    connections += 1;
    const connection = connections;
    sockets.add(ws);
    ws.on("close", () => sockets.delete(ws));
    let frames = 0;
    ws.on("message", (data) => {
      const msg = parseClientMessage(data.toString());
      if (msg?.type !== "publish") {
        ws.send(JSON.stringify({ type: "error", code: "invalid_message", message: "not a publish" }));
        return;
      }
      frames += 1;
      received.push({ event: msg.event, at: Date.now(), connection });
      if (behaviour.dropAfter !== undefined && frames >= behaviour.dropAfter) {
        behaviour.dropAfter = undefined;
        ws.terminate();
        return;
      }
      if (!behaviour.ack) return;
      const terminal = msg.event.type === "ready" || msg.event.type === "failed";
      if (terminal && behaviour.failTerminal) {
        behaviour.failTerminal -= 1;
        const message = `could not record ${msg.event.type} #${msg.event.seq}; send it again`;
        ws.send(JSON.stringify({ type: "error", code: "persist_failed", message }));
        return;
      }
      const ack = JSON.stringify({ type: "ack", seq: msg.event.seq });
      const sendAck = () => {
        if (ws.readyState !== ws.OPEN) return;
        ws.send(ack);
        if (behaviour.duplicateAcks) ws.send(ack);
      };
      if (behaviour.ackDelayMs) setTimeout(sendAck, behaviour.ackDelayMs);
      else sendAck();
    });
  });
  const port = (wss.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    behaviour,
    received,
    headers,
    /** Events the DO kept: each seq once, in arrival order. */
    stored: () => {
      const seen = new Set<number>();
      return received.filter((r) => !seen.has(r.event.seq) && seen.add(r.event.seq)).map((r) => r.event);
    },
    openSockets: () => sockets.size,
    connections: () => connections,
    /** Plays VideoProgress.cancel(): `video_deleted` to every publisher, close 4410, then 410 to upgrades. */
    deleteVideo: () => {
      behaviour.refuse = 410;
      for (const ws of sockets) {
        ws.send(JSON.stringify({ type: "error", code: VIDEO_DELETED, message: "the video was deleted" }));
        ws.close(CLOSE_VIDEO_DELETED, CLOSE_VIDEO_DELETED_REASON);
      }
    },
    /** Drops every live connection abruptly, as a DO eviction or a network cut would. */
    dropAll: () => {
      for (const ws of sockets) ws.terminate();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const ws of sockets) ws.terminate();
        wss.close(() => resolve());
      }),
  };
}

/** Polls until `check` is true or the time is up. */
export async function waitUntil(check: () => boolean, timeoutMs = 5000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
