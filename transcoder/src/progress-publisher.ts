import {
  CLOSE_VIDEO_DELETED,
  PROGRESS_TOKEN_HEADER,
  type ProgressEvent,
  PublishMessage,
  parseServerMessage,
  publisherPath,
  SEQ_EPOCH,
  TERMINAL_EVENTS,
  type TerminalEvent,
  VIDEO_DELETED,
} from "@streamlet/shared";
import { WebSocket as ReconnectingWebSocket } from "partysocket";
import WS from "ws";
import { EdgeRejectedError, errorMessage, JobCancelledError } from "./errors.ts";
import type { Logger } from "./log.ts";

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** A progress event before the publisher numbers and stamps it. */
export type ProgressUpdate = DistributiveOmit<ProgressEvent, "seq" | "at">;
export type TerminalUpdate = DistributiveOmit<TerminalEvent, "seq" | "at">;
export type StageUpdate = Exclude<ProgressUpdate, TerminalUpdate>;

/** At most one update per this many ms within a stage (about 4 per second). */
export const DEFAULT_MIN_INTERVAL_MS = 250;
/** How long finish() waits for the DO to confirm a terminal event before the attempt fails (and retries). */
export const DEFAULT_ACK_TIMEOUT_MS = 60_000;

export interface ReconnectOptions {
  minDelayMs?: number;
  maxDelayMs?: number;
  connectTimeoutMs?: number;
}

export interface PublisherOptions {
  /** The edge's base URL (http or https); the socket goes to its ws/wss twin. */
  edgeUrl: string;
  /** TRANSCODER_SECRET, sent as `Authorization: Bearer`. */
  secret: string;
  videoId: string;
  /** The job's progressToken, sent in PROGRESS_TOKEN_HEADER. */
  token: string;
  /** BullMQ's attemptsStarted (1 on the first attempt): seqs are attempt * SEQ_EPOCH + n. */
  attempt: number;
  log: Logger;
  minIntervalMs?: number;
  ackTimeoutMs?: number;
  /** Wait before re-sending after the DO answers `persist_failed` (it could not reach Postgres). */
  resendAfterErrorMs?: number;
  reconnect?: ReconnectOptions;
}

/** Publishes one job attempt's progress to the video's Durable Object. */
export interface ProgressPublisher {
  /** Queues a non-terminal event: throttled per stage, latest wins; never throws for network trouble. */
  publish(update: StageUpdate): void;
  /** Sends a terminal event at once and resolves when the DO acknowledges it (stored and in Postgres). */
  finish(update: TerminalUpdate): Promise<void>;
  /** Closes the socket; a finish() still waiting rejects. */
  close(): void;
  /** Events sent and not yet acknowledged. */
  readonly unacked: number;
  /** Set once the edge refused the socket for good (4xx): the job cannot report, so it should stop. */
  readonly refusal: Error | null;
  /**
   * Aborted (with a JobCancelledError) when the edge says the video was deleted: an `error` frame
   * VIDEO_DELETED, close code CLOSE_VIDEO_DELETED, or 410 to the upgrade. The job should stop and remove its output.
   */
  readonly cancelled: AbortSignal;
}

/** No ack for a terminal event in time: transient, so BullMQ retries (the DO dedups by seq). */
export class ProgressAckTimeoutError extends Error {
  override name = "ProgressAckTimeoutError";
}

/** The publisher socket URL for a video. */
export function publisherUrl(edgeUrl: string, videoId: string): string {
  const base = edgeUrl.replace(/\/+$/, "").replace(/^http/, "ws");
  return `${base}${publisherPath(videoId)}`;
}

/** A `ws` client that always sends our headers: partysocket only passes (url, protocols). */
function withHeaders(headers: Record<string, string>) {
  return class HeaderWebSocket extends WS {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols ?? [], { headers });
    }
  };
}

/** 4xx answers to the upgrade that another try will not fix (408 and 429 will). */
function permanentRefusal(message: string): number | null {
  const status = Number(/Unexpected server response: (\d{3})/.exec(message)?.[1]);
  return status >= 400 && status < 500 && status !== 408 && status !== 429 ? status : null;
}

/**
 * Opens a reconnecting socket to the video's DO and numbers, throttles and buffers progress events:
 * every sent event stays buffered until acked and is re-sent, in order, after a reconnect.
 */
export function createProgressPublisher(options: PublisherOptions): ProgressPublisher {
  const minInterval = options.minIntervalMs ?? DEFAULT_MIN_INTERVAL_MS;
  const ackTimeout = options.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS;
  const resendAfterErrorMs = options.resendAfterErrorMs ?? 2000;
  const log = options.log;
  const seqBase = Math.max(1, options.attempt) * SEQ_EPOCH;
  let n = 0;
  const unacked = new Map<number, string>();
  let lastType: string | null = null;
  let lastSentAt = Number.NEGATIVE_INFINITY;
  let pending: (ProgressUpdate & { at: number }) | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let resendTimer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  let finishing = false;
  let refused: Error | null = null;
  let lastServerError = "";
  let waiter: { seq: number; resolve: () => void; reject: (err: Error) => void } | null = null;
  const cancellation = new AbortController();

  const socket = new ReconnectingWebSocket(publisherUrl(options.edgeUrl, options.videoId), undefined, {
    WebSocket: withHeaders({
      Authorization: `Bearer ${options.secret}`,
      [PROGRESS_TOKEN_HEADER]: options.token,
    }),
    minReconnectionDelay: options.reconnect?.minDelayMs ?? 500,
    maxReconnectionDelay: options.reconnect?.maxDelayMs ?? 5000,
    reconnectionDelayGrowFactor: 1.5,
    connectionTimeout: options.reconnect?.connectTimeoutMs ?? 10_000,
  });

  socket.addEventListener("open", () => {
    // partysocket's own queue stays empty (we only send while open): re-send what the DO hasn't acked.
    if (unacked.size > 0) log.info("progress socket open, re-sending unacked", { count: unacked.size });
    for (const frame of unacked.values()) socket.send(frame);
  });
  socket.addEventListener("close", (e: Event) => {
    if (closed) return;
    const { code, reason } = e as Event & { code?: number; reason?: string };
    if (code === CLOSE_VIDEO_DELETED) return cancel(`the edge closed the progress socket: ${reason || code}`);
    log.warn("progress socket closed (reconnecting)", { code, reason, unacked: unacked.size });
  });
  socket.addEventListener("message", (e: MessageEvent) => {
    const msg = parseServerMessage(e.data);
    if (!msg) return;
    if (msg.type === "ack") {
      // The DO stores in seq order and acks duplicates, so an ack covers everything up to it.
      for (const seq of unacked.keys()) if (seq <= msg.seq) unacked.delete(seq);
      if (waiter && msg.seq >= waiter.seq) {
        // The job's last word is stored: nothing more to send (the DO closes publishers now, too).
        shutdown();
        settle(null);
      }
    } else if (msg.type === "error") {
      if (msg.code === VIDEO_DELETED) return cancel(msg.message);
      lastServerError = `${msg.code}: ${msg.message}`;
      log.warn("progress socket error message", { code: msg.code, message: msg.message });
      // The DO could not write the outcome to Postgres and asks for it again; it dedups by seq.
      if (msg.code === "persist_failed" && waiter && !resendTimer) {
        resendTimer = setTimeout(() => {
          resendTimer = undefined;
          if (closed || socket.readyState !== socket.OPEN) return; // the open handler re-sends anyway
          for (const frame of unacked.values()) socket.send(frame);
        }, resendAfterErrorMs);
      }
    }
  });
  socket.addEventListener("error", (e: Event) => {
    const message = (e as Event & { message?: string }).message ?? "socket error";
    const status = permanentRefusal(message);
    if (status === 410) return cancel(`the edge answered the progress socket with 410: ${message}`);
    if (status !== null && !closed) {
      refused = new EdgeRejectedError(status, `the edge refused the progress socket: ${message}`);
      log.error("progress socket refused", { status });
      shutdown();
      settle(refused);
      return;
    }
    if (!closed) log.warn("progress socket error (reconnecting)", { error: message });
  });

  /** The video is gone: stop reporting, fail a pending finish(), and tell the job through `cancelled`. */
  function cancel(detail: string) {
    if (cancellation.signal.aborted) return;
    const err = new JobCancelledError("the video was deleted while it was being processed");
    log.warn("video deleted: cancelling the job", { detail });
    refused = err;
    cancellation.abort(err);
    if (!closed) shutdown();
    settle(err);
  }

  function settle(err: Error | null) {
    if (!waiter) return;
    const w = waiter;
    waiter = null;
    if (err) w.reject(err);
    else w.resolve();
  }

  function shutdown() {
    closed = true;
    clearTimeout(timer);
    clearTimeout(resendTimer);
    pending = null;
    socket.close(1000, "done");
  }

  function send(update: ProgressUpdate & { at: number }): number {
    n += 1;
    const seq = seqBase + n;
    const frame = JSON.stringify({ type: "publish", event: { ...update, seq } });
    unacked.set(seq, frame);
    if (socket.readyState === socket.OPEN) socket.send(frame);
    if (!TERMINAL_EVENTS.has(update.type)) {
      lastType = update.type;
      lastSentAt = Date.now();
    }
    return seq;
  }

  function flush() {
    clearTimeout(timer);
    timer = undefined;
    if (!pending) return;
    const event = pending;
    pending = null;
    send(event);
  }

  /** Our own output must match the contract: a bad event is a bug to surface here, not at the DO. */
  function stamp(update: ProgressUpdate): ProgressUpdate & { at: number } {
    const at = Date.now();
    PublishMessage.parse({ type: "publish", event: { ...update, seq: seqBase, at } });
    return { ...update, at };
  }

  return {
    publish(update) {
      if (closed || finishing) return;
      const event = stamp(update);
      if (event.type !== lastType) {
        // A stage change: the last word on the previous stage, then the new stage, both at once.
        flush();
        send(event);
        return;
      }
      if (!timer && Date.now() - lastSentAt >= minInterval) {
        send(event);
        return;
      }
      pending = event;
      if (timer) return;
      timer = setTimeout(flush, Math.max(0, lastSentAt + minInterval - Date.now()));
    },

    finish(update) {
      if (refused) return Promise.reject(refused);
      if (closed) return Promise.reject(new Error("progress publisher is closed"));
      if (finishing) return Promise.reject(new Error("finish() was already called"));
      let event: ProgressUpdate & { at: number };
      try {
        event = stamp(update);
      } catch (err) {
        return Promise.reject(err);
      }
      finishing = true;
      flush();
      const seq = send(event);
      return new Promise<void>((resolve, reject) => {
        const deadline = setTimeout(() => {
          const detail = lastServerError ? ` (last error from the edge: ${lastServerError})` : "";
          settle(
            new ProgressAckTimeoutError(
              `the edge did not acknowledge the ${update.type} event (seq ${seq}) within ${ackTimeout} ms${detail}`,
            ),
          );
        }, ackTimeout);
        waiter = {
          seq,
          resolve: () => {
            clearTimeout(deadline);
            resolve();
          },
          reject: (err) => {
            clearTimeout(deadline);
            reject(err);
          },
        };
      });
    },

    close() {
      if (!closed) shutdown();
      settle(new Error("progress publisher closed before the terminal event was acknowledged"));
    },

    get unacked() {
      return unacked.size;
    },

    get refusal() {
      return refused;
    },

    cancelled: cancellation.signal,
  };
}

/** Logs instead of throwing: progress is best effort until the terminal event. */
export function safePublish(publisher: ProgressPublisher, update: StageUpdate, log: Logger): void {
  try {
    publisher.publish(update);
  } catch (err) {
    log.error("invalid progress event (bug)", { error: errorMessage(err), type: update.type });
  }
}
