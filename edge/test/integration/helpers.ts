import { neonConfig } from "@neondatabase/serverless";
import {
  ErrorEnvelope,
  MASTER_PLAYLIST,
  outputPrefix,
  parseListObjects,
  parseServerMessage,
  type ServerMessage,
  sourceKey,
  type VideoStatus,
  type Visibility,
} from "@streamlet/shared";
import { AwsClient } from "aws4fetch";
import { expect, inject } from "vitest";
import WebSocket from "ws";
import { signAccessToken, signProgressToken } from "../../src/auth/tokens.ts";
import { loadConfig } from "../../src/config.ts";
import { createDb, type Db } from "../../src/db/client.ts";
import { users, type VideoRow, videos } from "../../src/db/schema.ts";
import { signPlaybackToken } from "../../src/play/token.ts";

/**
 * What the integration tests share: the stack the global setup started (scripts/stack/vitest-global-setup.ts),
 * raw HTTP and WebSocket calls, users and tokens, and videos built as rows plus stored objects. The typed
 * client a browser would use is scripts/stack/client.ts.
 */

neonConfig.webSocketConstructor = WebSocket;
export const edge = inject("edgeUrl");
export const vars = inject("edgeVars");
export const config = loadConfig(vars);

/** A Postgres pool of the test file's own (through the Neon bridge); end() it in afterAll. */
export function openDb() {
  return createDb(config);
}

export type Answer = { status: number; headers: Headers; text: string; json: unknown };

export type CallOptions = {
  token?: string;
  body?: unknown;
  /** A raw request body (sent as JSON unless `headers` says otherwise). */
  raw?: string;
  headers?: Record<string, string>;
};

/** One request to the edge; the answer's JSON is parsed when it says it is JSON. */
export async function call(method: string, path: string, opts: CallOptions = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if ((opts.body !== undefined || opts.raw !== undefined) && !headers["content-type"])
    headers["content-type"] = "application/json";
  const res = await fetch(`${edge}${path}`, {
    method,
    headers,
    body: opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body)),
  });
  const text = await res.text();
  const json =
    text && res.headers.get("content-type")?.startsWith("application/json")
      ? (JSON.parse(text) as unknown)
      : null;
  return { status: res.status, headers: res.headers, text, json };
}

/** Expects the error envelope with this status (and code, when given). */
export function expectError(res: { status: number; json: unknown }, status: number, code?: string) {
  expect(res.status, JSON.stringify(res.json)).toBe(status);
  const { error } = ErrorEnvelope.parse(res.json);
  if (code) expect(error.code).toBe(code);
  expect(error.message.length).toBeGreaterThan(0);
}

export type TestUser = { id: string; token: string };

/** The progress token the edge puts in a video's transcode job (publish scope, this video only). */
export function progressToken(videoId: string): Promise<string> {
  return signProgressToken(videoId, config.jwtSecret);
}

/** A user row and an access token signed as login signs it (no signup: no rate limit, no password hash). */
export async function user(db: Db, label = "user"): Promise<TestUser> {
  const [row] = await db
    .insert(users)
    .values({ email: `${label}-${crypto.randomUUID()}@example.com`, passwordHash: "unused" })
    .returning({ id: users.id });
  if (!row) throw new Error("no user row");
  return { id: row.id, token: await signAccessToken(row.id, config.jwtSecret) };
}

/** A playback token for a private video's delivery URLs (expiring in an hour unless told otherwise). */
export function playbackToken(
  id: string,
  secret = config.jwtSecret,
  exp = Math.floor(Date.now() / 1000) + 3600,
): Promise<string> {
  return signPlaybackToken(id, secret, exp);
}

export const s3 = new AwsClient({
  accessKeyId: config.s3.accessKeyId,
  secretAccessKey: config.s3.secretAccessKey,
  region: config.s3.region,
  service: "s3",
});

/** The URL of a stored object. */
export const objectUrl = (key: string) => `${config.s3.endpoint}/${config.s3.bucket}/${key}`;

/** Writes an object straight into the bucket. */
export async function putObject(key: string, body: string | Uint8Array<ArrayBuffer>) {
  const res = await s3.fetch(objectUrl(key), { method: "PUT", body });
  expect(res.ok, `PUT ${key}: ${res.status}`).toBe(true);
}

/** Every key in the bucket under a prefix. */
export async function listKeys(prefix: string): Promise<string[]> {
  const url = `${config.s3.endpoint}/${config.s3.bucket}?list-type=2&prefix=${encodeURIComponent(prefix)}`;
  const res = await s3.fetch(url);
  expect(res.ok).toBe(true);
  return parseListObjects(await res.text()).keys;
}

/** Every stored object of a video (its source and its output), by the shared layout. */
export async function storedKeys(id: string): Promise<string[]> {
  return [...(await listKeys(sourceKey(id))), ...(await listKeys(outputPrefix(id)))];
}

export const MASTER = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000,RESOLUTION=2x2\n720p/index.m3u8\n";
export const SEGMENT = new Uint8Array(2048).fill(7);

/** A video row of `ownerId`, ready unless told otherwise. */
export async function videoRow(
  db: Db,
  ownerId: string,
  opts: { visibility?: Visibility; status?: VideoStatus; title?: string } = {},
): Promise<VideoRow> {
  const status = opts.status ?? "ready";
  const [row] = await db
    .insert(videos)
    .values({
      ownerId,
      title: opts.title ?? "test video",
      visibility: opts.visibility ?? "public",
      status,
      readyAt: status === "ready" ? new Date() : null,
      sourceBytes: 3,
    })
    .returning();
  if (!row) throw new Error("no video row");
  return row;
}

/** A ready video of `ownerId` with a source, a master playlist and a segment in storage. */
export async function readyVideo(db: Db, ownerId: string, visibility: Visibility, title = "access") {
  const row = await videoRow(db, ownerId, { visibility, title });
  await putObject(sourceKey(row.id), "src");
  await putObject(`${outputPrefix(row.id)}${MASTER_PLAYLIST}`, MASTER);
  await putObject(`${outputPrefix(row.id)}720p/seg_00001.m4s`, SEGMENT);
  return row;
}

/** A WebSocket upgrade's outcome: the refusal's status and body, or the open socket. */
export type Upgrade = { status: number; code?: string; body?: string; json?: unknown; ws?: WebSocket };

/** Attempts a WebSocket upgrade to an edge path. */
export function upgrade(
  path: string,
  opts: { headers?: Record<string, string>; protocols?: string[] } = {},
): Promise<Upgrade> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${edge.replace(/^http/, "ws")}${path}`, opts.protocols ?? [], {
      headers: opts.headers,
    });
    ws.on("unexpected-response", (request, res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => {
        request.destroy();
        let json: unknown = null;
        try {
          json = body ? JSON.parse(body) : null;
        } catch {
          // Not JSON: body has it.
        }
        const code = ErrorEnvelope.safeParse(json).data?.error.code;
        resolve({ status: res.statusCode ?? 0, code, body, json });
      });
    });
    ws.on("open", () => resolve({ status: 101, ws }));
    ws.on("error", reject);
  });
}

/** The next message on a socket, parsed as a server message (null if it is not one). */
export function nextMessage(ws: WebSocket, timeoutMs = 10_000): Promise<ServerMessage | null> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no message from the edge")), timeoutMs);
    ws.once("message", (data) => {
      clearTimeout(timer);
      resolve(parseServerMessage(String(data)));
    });
  });
}
