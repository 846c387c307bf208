import { DurableObject } from "cloudflare:workers";
import {
  CLOSE_VIDEO_DELETED,
  CLOSE_VIDEO_DELETED_REASON,
  MAX_MESSAGE_BYTES,
  MAX_TRANSCODE_RUN,
  type ProgressEvent,
  parseClientMessage,
  runOfSeq,
  runSeqBase,
  type ServerMessage,
  type TerminalEvent,
  VIDEO_DELETED,
} from "@streamlet/shared";
import { loadConfig } from "../config.ts";
import { envelope, loggable } from "../errors.ts";
import { EventLog } from "./event-log.ts";
import { fallbackEvent } from "./fallback.ts";
import { type Handoff, type ProgressRole, parseHandoff } from "./handoff.ts";
import {
  type PersistResult,
  type PlayableResult,
  persistPlayable,
  persistProcessing,
  persistTerminal,
  withDatabase,
} from "./persist.ts";

/** Close code and reason publishers get once the job's terminal event is stored: nothing more will come. */
export const CLOSE_JOB_ENDED = { code: 1000, reason: "job ended" } as const;

type QueuedEvent = Extract<ProgressEvent, { type: "queued" }>;

const PING = JSON.stringify({ type: "ping" });
const PONG = JSON.stringify({ type: "pong" } satisfies ServerMessage);

/**
 * One video's live progress channel (one object per video: idFromName(videoId)). The transcoder publishes
 * numbered events; the object stores the last MAX_EVENTS of them in its SQLite storage, fans each new one
 * out to the subscribed browsers, acknowledges it, and writes the job's outcome (ready/failed) to Postgres
 * before acknowledging that one. Sockets use the hibernation API, so an idle channel costs nothing.
 * The Worker authenticates every connection before handing it over (see handoff.ts); only it can reach
 * this object, so the role it names is trusted. Every entry point logs its errors and never throws.
 */
export class VideoProgress extends DurableObject<Env> {
  #log: EventLog | undefined;
  /** Publishes run one at a time, in arrival order (each may wait on Postgres). */
  #publishing: Promise<unknown> = Promise.resolve();
  /** The background queued → processing write, while one is running. */
  #marking: Promise<void> | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    try {
      // Keepalives are answered by the runtime without waking a hibernating object.
      ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING, PONG));
    } catch (error) {
      console.error("VideoProgress.constructor: setWebSocketAutoResponse failed:", loggable(error));
    }
  }

  /**
   * The video was deleted (RPC from the Worker's DELETE, after the row is gone): tells the publisher so
   * its transcode stops, closes every socket and forgets the channel. Later publishers are refused by the
   * Worker (no row), and a terminal event that still arrives finds no row and is answered the same way.
   */
  async cancel(): Promise<{ publishers: number; subscribers: number }> {
    return this.#guard(
      "cancel",
      async () => {
        const publishers = this.#tellDeleted();
        const subscribers = this.ctx.getWebSockets("subscriber");
        for (const ws of subscribers) close(ws, CLOSE_VIDEO_DELETED, CLOSE_VIDEO_DELETED_REASON);
        // Let writes in flight finish first, so none of them recreates the state just forgotten.
        await Promise.all([this.#publishing, this.#marking]);
        await this.ctx.storage.deleteAll();
        this.#log = undefined;
        return { publishers, subscribers: subscribers.length };
      },
      () => ({ publishers: 0, subscribers: 0 }),
    );
  }

  /**
   * Begins run `run` of the video's transcode (RPC from the Worker's retry of a failed video, once the
   * row is queued again and the run's job is in the queue): the earlier runs' events and outcome are
   * forgotten, subscribers get the run's "queued" event (seq runSeqBase(run), above every earlier seq,
   * so clients of any version take it as the next event), the row will be moved to processing again,
   * and the new run's publisher is heard. Anything an earlier run's publisher still sends is at or below
   * that seq: acknowledged as a duplicate and dropped. Idempotent: "unchanged" when the channel is on
   * this run or a later one already (the new run's first event begins it too, should it come first).
   */
  async restart(run: number): Promise<"restarted" | "unchanged" | "failed"> {
    return this.#guard(
      "restart",
      async () => {
        if (!Number.isSafeInteger(run) || run < 1 || run > MAX_TRANSCODE_RUN) {
          throw new RangeError(`not a run number: ${run}`);
        }
        // In line with publishes, so none of them straddles the new run's beginning.
        const step = this.#publishing.then(() => this.#beginRun(this.#events(), run));
        this.#publishing = step.catch(() => undefined);
        return (await step) ? "restarted" : "unchanged";
      },
      () => "failed" as const,
    );
  }

  /** Begins run `run` unless the channel is on it (or a later one) already; true when it did. */
  async #beginRun(log: EventLog, run: number): Promise<boolean> {
    if (run <= runOfSeq(log.state().lastSeq)) return false;
    // A queued → processing write of the run before must not land in the new run's bookkeeping.
    await this.#marking;
    if (run <= runOfSeq(log.state().lastSeq)) return false;
    const queued: QueuedEvent = { type: "queued", seq: runSeqBase(run), at: Date.now() };
    log.beginRun(queued);
    console.info(`VideoProgress [${this.#label()}]: run ${run} begins`);
    this.#broadcast(queued);
    return true;
  }

  /** Sends VIDEO_DELETED to every publisher and closes it with CLOSE_VIDEO_DELETED; returns how many. */
  #tellDeleted(): number {
    const publishers = this.ctx.getWebSockets("publisher");
    for (const ws of publishers) {
      send(ws, { type: "error", code: VIDEO_DELETED, message: "the video was deleted; stop the job" });
      close(ws, CLOSE_VIDEO_DELETED, CLOSE_VIDEO_DELETED_REASON);
    }
    return publishers.length;
  }

  /** The Worker's handoff of an authenticated WebSocket upgrade. */
  override fetch(request: Request): Promise<Response> {
    return this.#guard(
      "fetch",
      () => this.#connect(request),
      () => Response.json(envelope("internal", "the progress channel failed"), { status: 500 }),
    );
  }

  override webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    return this.#guard(
      "webSocketMessage",
      () => this.#receive(ws, message),
      () => send(ws, { type: "error", code: "internal", message: "the message could not be handled" }),
    );
  }

  override webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    return this.#guard(
      "webSocketClose",
      () => {
        // From compatibility date 2026-04-07 the runtime has already answered the peer's Close frame and
        // the socket is CLOSED; on older dates it is still open and must be closed back. No per-socket state.
        if (ws.readyState === WebSocket.OPEN) close(ws, code === 1005 ? 1000 : code, reason);
      },
      () => undefined,
    );
  }

  override webSocketError(ws: WebSocket, error: unknown): Promise<void> {
    return this.#guard(
      "webSocketError",
      () =>
        console.error(
          `VideoProgress.webSocketError [${this.#label()}] (${this.#roleOf(ws)}):`,
          loggable(error),
        ),
      () => undefined,
    );
  }

  async #guard<T>(method: string, run: () => T | Promise<T>, recover: () => T): Promise<T> {
    try {
      return await run();
    } catch (error) {
      console.error(`VideoProgress.${method} failed [${this.#label()}]:`, loggable(error));
      return recover();
    }
  }

  #label(): string {
    try {
      return `video ${this.#events().state().videoId ?? "?"}`;
    } catch {
      return `object ${this.ctx.id.toString()}`;
    }
  }

  #events(): EventLog {
    this.#log ??= new EventLog(this.ctx.storage);
    return this.#log;
  }

  #roleOf(ws: WebSocket): ProgressRole {
    // Least privilege: a socket without the publisher tag is a subscriber.
    return this.ctx.getTags(ws).includes("publisher") ? "publisher" : "subscriber";
  }

  #connect(request: Request): Response {
    const handoff = parseHandoff(request);
    if (handoff === null) {
      return Response.json(envelope("bad_request", "missing or malformed progress handoff"), { status: 400 });
    }
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return Response.json(envelope("upgrade_required", "expected a WebSocket upgrade"), { status: 426 });
    }
    const log = this.#events();
    if (!log.claim(handoff.videoId)) {
      console.error(
        `VideoProgress.fetch [${this.#label()}]: refused a connection for video ${handoff.videoId}`,
      );
      return Response.json(envelope("conflict", "this progress channel serves another video"), {
        status: 409,
      });
    }
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server, [handoff.role]);
    if (handoff.role === "subscriber") {
      for (const message of this.#welcome(log, handoff)) send(server, message);
    }
    return new Response(null, { status: 101, webSocket: client });
  }

  /**
   * What a joining subscriber gets at once: with `since`, every stored event after it (nothing if it is
   * up to date); without it, or when events after `since` were trimmed away (or `since` is ahead of what
   * this object knows), a snapshot of the latest event, or of the video row if nothing was published yet.
   */
  #welcome(log: EventLog, handoff: Handoff): ServerMessage[] {
    const latest = log.latest();
    if (latest === null) return [{ type: "snapshot", event: handoff.fallback }];
    const { since } = handoff;
    const { prunedThrough, lastSeq } = log.state();
    if (since === null || since < prunedThrough || since > lastSeq)
      return [{ type: "snapshot", event: latest }];
    return log.after(since).map((event) => ({ type: "event", event }));
  }

  async #receive(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    if (typeof message !== "string") {
      return send(ws, { type: "error", code: "bad_message", message: "binary frames are not accepted" });
    }
    if (new TextEncoder().encode(message).byteLength > MAX_MESSAGE_BYTES) {
      const text = `messages are limited to ${MAX_MESSAGE_BYTES} bytes`;
      return send(ws, { type: "error", code: "bad_message", message: text });
    }
    const parsed = parseClientMessage(message);
    if (parsed === null) {
      return send(ws, { type: "error", code: "bad_message", message: "not a known message" });
    }
    if (parsed.type === "ping") return send(ws, { type: "pong" });
    if (this.#roleOf(ws) !== "publisher") {
      return send(ws, { type: "error", code: "forbidden", message: "subscribers cannot publish" });
    }
    const run = this.#publishing.then(() => this.#publish(ws, parsed.event));
    this.#publishing = run.catch(() => undefined);
    await run;
  }

  async #publish(ws: WebSocket, event: ProgressEvent): Promise<void> {
    const log = this.#events();
    let state = log.state();
    // A resend, or an earlier run's event after a retry began the next one.
    if (event.seq <= state.lastSeq) return send(ws, { type: "ack", seq: event.seq });
    // A later run's publisher got here before the Worker's restart(): its first event begins the run.
    if (await this.#beginRun(log, runOfSeq(event.seq))) state = log.state();
    if (state.terminalPersisted) {
      console.warn(
        `VideoProgress [${this.#label()}]: dropped ${event.type} #${event.seq}: the job already ended`,
      );
      return send(ws, { type: "ack", seq: event.seq });
    }
    const videoId = state.videoId;
    if (videoId === null) throw new Error("a publish reached an object no connection has claimed");
    if (event.type === "ready" || event.type === "failed") return this.#finish(ws, log, videoId, event);
    if (event.type === "playable") return this.#playable(ws, log, videoId, event);

    log.append(event, { terminal: false });
    this.#broadcast(event);
    send(ws, { type: "ack", seq: event.seq });
    if (event.type !== "queued" && !state.processingMarked && this.#marking === null) {
      this.#marking = this.#markProcessing(log, videoId).finally(() => {
        this.#marking = null;
      });
      this.ctx.waitUntil(this.#marking);
    }
  }

  /** The job's outcome: Postgres first; stored, broadcast and acknowledged only once that succeeded. */
  async #finish(ws: WebSocket, log: EventLog, videoId: string, event: TerminalEvent): Promise<void> {
    let result: PersistResult;
    try {
      result = await withDatabase(loadConfig(this.env), (db) => persistTerminal(db, videoId, event));
    } catch (error) {
      console.error(
        `VideoProgress [${this.#label()}]: writing ${event.type} to Postgres failed:`,
        loggable(error),
      );
      const message = `could not record ${event.type} #${event.seq}; send it again`;
      return send(ws, { type: "error", code: "persist_failed", message });
    }
    if (result.outcome === "missing") {
      // Deleted while the job ran: nothing to record, and the transcoder must remove what it uploaded.
      console.warn(`VideoProgress [${this.#label()}]: ${event.type} #${event.seq}: the video row is gone`);
      log.endWithout(event.seq);
      this.#tellDeleted();
      return;
    }
    let stored: ProgressEvent | null = event;
    if (result.outcome === "rejected") {
      console.warn(
        `VideoProgress [${this.#label()}]: ${event.type} #${event.seq} not applied (${result.message}); acked`,
      );
      // Subscribers are told what Postgres holds, never the outcome it refused.
      const truth = fallbackEvent(result.row);
      stored =
        truth?.type === "ready" || truth?.type === "failed"
          ? { ...truth, seq: event.seq, at: Date.now() }
          : null;
    }
    if (stored === null) {
      log.endWithout(event.seq);
    } else {
      log.append(stored, { terminal: true });
      this.#broadcast(stored);
    }
    send(ws, { type: "ack", seq: event.seq });
    for (const publisher of this.ctx.getWebSockets("publisher")) {
      close(publisher, CLOSE_JOB_ENDED.code, CLOSE_JOB_ENDED.reason);
    }
  }

  /**
   * The video can be watched while it is still processing: Postgres first (playable_at, which delivery and
   * the video JSON read), then stored, broadcast and acknowledged, like a terminal event. A video past
   * processing keeps what it has (acknowledged, not broadcast); a deleted one makes the publisher stop.
   */
  async #playable(
    ws: WebSocket,
    log: EventLog,
    videoId: string,
    event: Extract<ProgressEvent, { type: "playable" }>,
  ): Promise<void> {
    let result: PlayableResult;
    try {
      result = await withDatabase(loadConfig(this.env), (db) => persistPlayable(db, videoId));
    } catch (error) {
      console.error(
        `VideoProgress [${this.#label()}]: writing playable to Postgres failed:`,
        loggable(error),
      );
      const message = `could not record playable #${event.seq}; send it again`;
      return send(ws, { type: "error", code: "persist_failed", message });
    }
    if (result.outcome === "missing") {
      console.warn(`VideoProgress [${this.#label()}]: playable #${event.seq}: the video row is gone`);
      this.#tellDeleted();
      return;
    }
    if (result.outcome === "ignored") {
      console.warn(
        `VideoProgress [${this.#label()}]: playable #${event.seq} ignored: the video is ${result.row.status}`,
      );
      return send(ws, { type: "ack", seq: event.seq });
    }
    log.markProcessing();
    log.append(event, { terminal: false });
    this.#broadcast(event);
    send(ws, { type: "ack", seq: event.seq });
  }

  /** queued → processing once the transcoder has started; a failure is logged and retried on the next event. */
  async #markProcessing(log: EventLog, videoId: string): Promise<void> {
    try {
      const result = await withDatabase(loadConfig(this.env), (db) => persistProcessing(db, videoId));
      log.markProcessing();
      if (result.outcome === "missing") {
        console.warn(`VideoProgress [${this.#label()}]: no video row to mark: the video was deleted`);
        this.#tellDeleted();
      }
    } catch (error) {
      console.error(
        `VideoProgress [${this.#label()}]: moving the video to processing failed:`,
        loggable(error),
      );
    }
  }

  #broadcast(event: ProgressEvent) {
    for (const subscriber of this.ctx.getWebSockets("subscriber")) send(subscriber, { type: "event", event });
  }
}

function send(ws: WebSocket, message: ServerMessage) {
  try {
    ws.send(JSON.stringify(message));
  } catch {
    // The socket is closing or gone: nobody is left to tell, and webSocketClose/Error will follow.
  }
}

function close(ws: WebSocket, code: number, reason: string) {
  try {
    ws.close(code, reason);
  } catch {
    // Already closed.
  }
}
