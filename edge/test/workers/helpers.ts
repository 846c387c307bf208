import { env, exports } from "cloudflare:workers";
import {
  BEARER_PROTOCOL_PREFIX,
  EVENTS_PROTOCOL,
  eventsPath,
  PROGRESS_TOKEN_HEADER,
  type ProgressEvent,
  parseServerMessage,
  publisherPath,
  SEQ_EPOCH,
  type ServerMessage,
  type VideoStatus,
} from "@streamlet/shared";
import { eq } from "drizzle-orm";
import { rendition720p } from "../../../shared/test/fixtures/renditions.ts";
import { signAccessToken, signProgressToken } from "../../src/auth/tokens.ts";
import { loadConfig } from "../../src/config.ts";
import { createDb } from "../../src/db/client.ts";
import { users, type VideoRow, videos } from "../../src/db/schema.ts";

/** The Worker under test, as a client reaches it (its default export's fetch, inside workerd). */
export function edgeFetch(path: string, init: RequestInit = {}): Promise<Response> {
  return exports.default.fetch(new Request(`https://edge.test${path}`, init));
}

/** Runs `work` against the test Postgres through the Worker's own driver and bridge, then ends the pool. */
export async function withDb<T>(work: (db: ReturnType<typeof createDb>["db"]) => Promise<T>): Promise<T> {
  const { db, end } = createDb(loadConfig(env));
  try {
    return await work(db);
  } finally {
    await end();
  }
}

/** A user with a fresh access token (signed exactly as login signs them). */
export async function newUser() {
  const [user] = await withDb((db) =>
    db
      .insert(users)
      .values({ email: `workers-${crypto.randomUUID()}@example.com`, passwordHash: "unused" })
      .returning(),
  );
  if (!user) throw new Error("no user row");
  return { id: user.id, token: await signAccessToken(user.id, env.JWT_SECRET) };
}

/** A video row of `owner` in `status` (queued by default: uploaded and waiting for the transcoder). */
export async function newVideo(ownerId: string, changes: Partial<typeof videos.$inferInsert> = {}) {
  const [video] = await withDb((db) =>
    db
      .insert(videos)
      .values({ ownerId, title: "progress", status: "queued", sourceBytes: 1024, ...changes })
      .returning(),
  );
  if (!video) throw new Error("no video row");
  return video;
}

export async function videoRow(id: string): Promise<VideoRow> {
  const [row] = await withDb((db) => db.select().from(videos).where(eq(videos.id, id)).limit(1));
  if (!row) throw new Error(`no video ${id}`);
  return row;
}

/** Polls the row until `status` (background writes such as queued → processing land shortly after an ack). */
export async function waitForStatus(id: string, status: VideoStatus, timeoutMs = 5000): Promise<VideoRow> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const row = await videoRow(id);
    if (row.status === status || Date.now() > deadline) return row;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A test-side WebSocket that queues what the edge sends, to be awaited message by message. */
export class Client {
  readonly #queue: unknown[] = [];
  readonly #waiters: Array<(message: unknown) => void> = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  readonly ws: WebSocket;
  readonly protocol: string | null;

  constructor(ws: WebSocket, protocol: string | null) {
    this.ws = ws;
    this.protocol = protocol;
    ws.addEventListener("message", (event) => {
      const message =
        typeof event.data === "string" ? (parseServerMessage(event.data) ?? event.data) : event.data;
      const waiter = this.#waiters.shift();
      if (waiter) waiter(message);
      else this.#queue.push(message);
    });
    this.closed = new Promise((resolve) =>
      ws.addEventListener("close", (event) => resolve({ code: event.code, reason: event.reason })),
    );
    ws.accept();
  }

  /** The next message, parsed; fails after `timeoutMs`. */
  next(timeoutMs = 5000): Promise<ServerMessage> {
    const queued = this.#queue.shift();
    if (queued !== undefined) return Promise.resolve(queued as ServerMessage);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(new Error(`no message within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (message: unknown) => {
        clearTimeout(timer);
        resolve(message as ServerMessage);
      };
      this.#waiters.push(waiter);
    });
  }

  /** Resolves if nothing arrives within `ms`; fails with what did. */
  async nothingFor(ms = 300): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    if (this.#queue.length > 0) throw new Error(`unexpected message: ${JSON.stringify(this.#queue[0])}`);
  }

  send(message: unknown) {
    this.ws.send(
      typeof message === "string" || message instanceof ArrayBuffer ? message : JSON.stringify(message),
    );
  }

  publish(event: ProgressEvent) {
    this.send({ type: "publish", event });
  }

  close() {
    try {
      this.ws.close(1000, "test done");
    } catch {
      // already closed
    }
  }
}

/** Opens a subscriber socket the way a browser does: the token as the second offered subprotocol. */
export async function subscribe(videoId: string, token: string, query = ""): Promise<Client> {
  const res = await edgeFetch(`${eventsPath(videoId)}${query}`, {
    headers: {
      Upgrade: "websocket",
      "Sec-WebSocket-Protocol": `${EVENTS_PROTOCOL}, ${BEARER_PROTOCOL_PREFIX}${token}`,
    },
  });
  return accept(res);
}

/** Opens the transcoder's publisher socket: its secret plus the job's progress token. */
export async function publisher(videoId: string, progressToken?: string): Promise<Client> {
  const res = await edgeFetch(publisherPath(videoId), {
    headers: {
      Upgrade: "websocket",
      Authorization: `Bearer ${env.TRANSCODER_SECRET}`,
      [PROGRESS_TOKEN_HEADER]: progressToken ?? (await signProgressToken(videoId, env.JWT_SECRET)),
    },
  });
  return accept(res);
}

export async function accept(res: Response): Promise<Client> {
  if (res.status !== 101 || !res.webSocket)
    throw new Error(`expected 101, got ${res.status}: ${await res.text()}`);
  return new Client(res.webSocket, res.headers.get("sec-websocket-protocol"));
}

/** Event factories numbered like the transcoder's first attempt (attempt * SEQ_EPOCH + n). */
export const seq = (n: number, attempt = 1) => attempt * SEQ_EPOCH + n;

export const downloading = (n: number, percent = 50): ProgressEvent => ({
  type: "downloading",
  seq: seq(n),
  at: Date.now(),
  bytes: percent * 10,
  totalBytes: 1000,
  percent,
});

export const transcoding = (n: number, percent: number): ProgressEvent => ({
  type: "transcoding",
  seq: seq(n),
  at: Date.now(),
  percent,
  rungs: [{ name: "720p", height: 720, percent }],
  fps: 60,
  speed: 2,
  etaSeconds: 3,
});

/** The transcoder's "watchable now" event: the first segments of every rung and the audio are stored. */
export const playable = (n: number, attempt = 1): ProgressEvent => ({
  type: "playable",
  seq: seq(n, attempt),
  at: Date.now(),
  segmentsPublished: 3,
  segmentsTotal: 30,
});

/** The one rendition of the `ready` events here (the shared fixture). */
export const rendition = rendition720p;

export const ready = (n: number): ProgressEvent => ({
  type: "ready",
  seq: seq(n),
  at: Date.now(),
  durationSeconds: 8,
  sourceWidth: 1280,
  sourceHeight: 720,
  renditions: [rendition720p],
});

export const failed = (n: number, reason = "no video stream"): ProgressEvent => ({
  type: "failed",
  seq: seq(n),
  at: Date.now(),
  reason,
});
