import { WebSocket as ReconnectingWebSocket } from "partysocket";
import {
  BEARER_PROTOCOL_PREFIX,
  CLOSE_VIDEO_DELETED,
  EVENTS_PROTOCOL,
  eventsPath,
  isTerminal,
  type ProgressEvent,
  parseServerMessage,
  type TerminalEvent,
} from "./progress.ts";

export { CLOSE_VIDEO_DELETED, type ProgressEvent, type TerminalEvent };

/** Anything built like the browser's WebSocket: `new WebSocket(url, protocols)` (in Node: the `ws` package). */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => unknown;

export type ProgressClientError =
  /** An `{type:"error"}` frame from the edge. */
  | { kind: "server"; code: string; message: string }
  /** The connection failed or dropped (an upgrade the edge refused looks the same to a browser). */
  | { kind: "socket"; message: string; willRetry: boolean }
  /** The video was deleted (close code 4410): the subscription ends, nothing more will come. */
  | { kind: "deleted"; message: string };

export interface SubscribeOptions {
  /** The edge's base URL, http(s)://…; the socket goes to its ws(s) twin. */
  baseUrl: string;
  videoId: string;
  /** The owner's access token, or a function returning a fresh one (read again on every reconnect). */
  accessToken: string | (() => string | Promise<string>);
  /** WebSocket implementation; browsers have one, Node passes `ws`. */
  WebSocket?: WebSocketConstructor;
  /** Resume after this seq instead of starting from a snapshot (e.g. the last seq a page saw). */
  since?: number;
  /** Every new event, each seq once and in increasing order (a snapshot's event included). */
  onEvent(event: ProgressEvent): void;
  /** The edge's snapshot on joining: the latest event, or null when nothing happened yet. */
  onSnapshot?(event: ProgressEvent | null): void;
  onError?(error: ProgressClientError): void;
  /**
   * Stop reconnecting once a ready/failed event arrived (default true): nothing follows it, unless the
   * owner retries a failed video. Pass false to follow retries: a new run begins with a `queued` event
   * numbered above every seq of the run before, delivered like any other event.
   */
  closeAfterTerminal?: boolean;
  minReconnectDelayMs?: number;
  maxReconnectDelayMs?: number;
  /** Give up after this many retries of a failing connection (default: never); onError says when. */
  maxRetries?: number;
  /** Keepalive ping interval in ms; 0 disables (default 30 s). */
  pingIntervalMs?: number;
}

export interface Subscription {
  close(): void;
  /** The highest seq delivered so far; -1 before the first. */
  readonly lastSeq: number;
}

/** The subscriber URL; `since` asks for a replay of what came after that seq instead of a snapshot. */
export function eventsUrl(baseUrl: string, videoId: string, since: number | null = null): string {
  const base = baseUrl.replace(/\/+$/, "").replace(/^http/, "ws");
  const url = `${base}${eventsPath(videoId)}`;
  return since === null ? url : `${url}?since=${since}`;
}

/**
 * Subscribes to a video's live transcode progress over a reconnecting WebSocket. The access token
 * travels as a subprotocol (never in the URL); every reconnect resumes with `since=<last seq seen>`;
 * duplicates and frames that aren't ours are dropped.
 */
export function subscribeToProgress(options: SubscribeOptions): Subscription {
  let lastSeq = options.since ?? -1;
  let closed = false;
  const token = options.accessToken;
  const socket = new ReconnectingWebSocket(
    () => eventsUrl(options.baseUrl, options.videoId, lastSeq >= 0 ? lastSeq : null),
    async () => [
      EVENTS_PROTOCOL,
      BEARER_PROTOCOL_PREFIX + (typeof token === "function" ? await token() : token),
    ],
    {
      WebSocket: options.WebSocket,
      minReconnectionDelay: options.minReconnectDelayMs ?? 500,
      maxReconnectionDelay: options.maxReconnectDelayMs ?? 10_000,
      reconnectionDelayGrowFactor: 1.5,
      connectionTimeout: 10_000,
    },
  );
  // Failed connection attempts since the last successful open (partysocket's own count is off by one here).
  let failures = 0;

  const close = () => {
    if (closed) return;
    closed = true;
    clearInterval(ping);
    socket.close(1000, "done");
  };

  const deliver = (event: ProgressEvent) => {
    if (event.seq <= lastSeq) return;
    lastSeq = event.seq;
    options.onEvent(event);
    if (isTerminal(event) && (options.closeAfterTerminal ?? true)) close();
  };

  socket.addEventListener("message", (e: MessageEvent) => {
    if (closed) return;
    const msg = parseServerMessage(e.data);
    if (msg === null) return;
    if (msg.type === "snapshot") {
      options.onSnapshot?.(msg.event);
      if (msg.event) deliver(msg.event);
    } else if (msg.type === "event") {
      deliver(msg.event);
    } else if (msg.type === "error") {
      options.onError?.({ kind: "server", code: msg.code, message: msg.message });
    }
  });
  socket.addEventListener("open", () => {
    failures = 0;
  });
  socket.addEventListener("close", (e: CloseEvent) => {
    if (closed || e.code !== CLOSE_VIDEO_DELETED) return;
    close();
    options.onError?.({ kind: "deleted", message: e.reason || "the video was deleted" });
  });
  socket.addEventListener("error", (e: Event) => {
    if (closed) return;
    const message = (e as Event & { message?: string }).message || "WebSocket error";
    failures += 1;
    const willRetry = options.maxRetries === undefined || failures <= options.maxRetries;
    if (!willRetry) close();
    options.onError?.({ kind: "socket", message, willRetry });
  });

  const pingEvery = options.pingIntervalMs ?? 30_000;
  const ping =
    pingEvery > 0
      ? setInterval(() => {
          // Only while open: partysocket would otherwise queue pings for the next connection.
          if (socket.readyState === socket.OPEN) socket.send('{"type":"ping"}');
        }, pingEvery)
      : undefined;

  return {
    close,
    get lastSeq() {
      return lastSeq;
    },
  };
}

export interface WaitOptions extends Omit<SubscribeOptions, "onEvent" | "closeAfterTerminal"> {
  /** Every event on the way (progress bars). */
  onEvent?(event: ProgressEvent): void;
  /** Reject after this long without a terminal event (default: wait forever). */
  timeoutMs?: number;
}

/**
 * Resolves with the video's ready or failed event, however late the caller joins; rejects on timeout
 * and when the video is deleted.
 */
export function waitForTerminalEvent(options: WaitOptions): Promise<TerminalEvent> {
  return new Promise<TerminalEvent>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finish = (outcome: () => void) => {
      clearTimeout(timer);
      subscription.close();
      outcome();
    };
    const subscription = subscribeToProgress({
      ...options,
      closeAfterTerminal: true,
      onEvent(event) {
        options.onEvent?.(event);
        if (event.type === "ready" || event.type === "failed") finish(() => resolve(event));
      },
      onError(error) {
        options.onError?.(error);
        if (error.kind === "socket" && !error.willRetry) {
          finish(() => reject(new Error(`progress socket gave up: ${error.message}`)));
        } else if (error.kind === "deleted") {
          finish(() => reject(new Error(`the video was deleted: ${error.message}`)));
        }
      },
    });
    if (options.timeoutMs !== undefined) {
      timer = setTimeout(
        () =>
          finish(() =>
            reject(
              new Error(
                `no ready/failed event for video ${options.videoId} within ${options.timeoutMs} ms (last seq ${subscription.lastSeq})`,
              ),
            ),
          ),
        options.timeoutMs,
      );
    }
  });
}
