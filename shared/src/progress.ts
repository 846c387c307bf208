import { z } from "zod";
import { DeliveryAssets, Rendition } from "./video.ts";

/**
 * Live transcode progress: what the transcoder publishes to the video's Durable Object and what
 * subscribers (the owner's browser, `npm run demo`) receive. Every event carries `seq`, unique and
 * increasing per video: the publisher numbers them `seqAttempt(run, attempt) * SEQ_EPOCH + n` (run = the
 * job's run, 1 until the video is retried; attempt = the BullMQ job's attemptsStarted; n from 1), so a
 * retried attempt continues above the last one, a retried video (a new run) above every attempt of the
 * run before, and the DO can drop anything at or below the last seq it stored as a duplicate. The edge's
 * own "queued" event has seq 0, and runSeqBase(run) when a retry begins the run.
 */
export const SEQ_EPOCH = 1_000_000;

/** Attempts of one run with a seq range of their own (BullMQ's attemptsStarted; a later one shares the last). */
export const ATTEMPTS_PER_RUN = 1000;

/** The seqs of one run: run r numbers within [runSeqBase(r), runSeqBase(r + 1)). */
export const RUN_SEQ_EPOCH = ATTEMPTS_PER_RUN * SEQ_EPOCH;

/** Where run `run`'s seqs begin: the seq of the "queued" event that starts it (0 for the first run). */
export function runSeqBase(run: number): number {
  return (Math.max(1, Math.floor(run)) - 1) * RUN_SEQ_EPOCH;
}

/** The run a seq belongs to (1 for anything below the second run's base, -1 "nothing yet" included). */
export function runOfSeq(seq: number): number {
  return seq < RUN_SEQ_EPOCH ? 1 : Math.floor(seq / RUN_SEQ_EPOCH) + 1;
}

/**
 * The publisher's attempt number counted across runs: attempt `attempt` (from 1) of run `run` numbers
 * its events from `seqAttempt(run, attempt) * SEQ_EPOCH + 1`. The first run's numbers are the attempts
 * themselves, as before runs existed.
 */
export function seqAttempt(run: number, attempt: number): number {
  const within = Math.min(Math.max(1, Math.floor(attempt)), ATTEMPTS_PER_RUN - 1);
  return (Math.max(1, Math.floor(run)) - 1) * ATTEMPTS_PER_RUN + within;
}

const Percent = z.number().min(0).max(100);
const base = {
  seq: z.number().int().nonnegative(),
  /** Epoch milliseconds at the publisher when the event was created. */
  at: z.number().nonnegative(),
};

export const RungProgress = z.object({
  name: z.string().max(32),
  height: z.number().int().positive(),
  percent: Percent,
});
export type RungProgress = z.infer<typeof RungProgress>;

export const ProgressEvent = z.discriminatedUnion("type", [
  z.object({ ...base, type: z.literal("queued") }).strict(),
  z
    .object({
      ...base,
      type: z.literal("downloading"),
      bytes: z.number().int().nonnegative(),
      totalBytes: z.number().int().nonnegative().nullable(),
      percent: Percent,
    })
    .strict(),
  z.object({ ...base, type: z.literal("probing") }).strict(),
  z
    .object({
      ...base,
      type: z.literal("transcoding"),
      /** Whole ladder, from FFmpeg's processed time against the probed duration. */
      percent: Percent,
      rungs: z.array(RungProgress).max(16),
      fps: z.number().nonnegative().nullable(),
      /** Encode speed as a multiple of realtime (FFmpeg's "speed="). */
      speed: z.number().nonnegative().nullable(),
      etaSeconds: z.number().nonnegative().nullable(),
      /** Chunked encodes: chunks encoded (and published) so far, of chunksTotal. Absent from whole-file encodes. */
      chunksDone: z.number().int().nonnegative().optional(),
      chunksTotal: z.number().int().positive().optional(),
    })
    .strict(),
  z
    .object({
      ...base,
      /**
       * The first segments of every rung and of the audio are in storage, under growing (EVENT) playlists
       * and a provisional master: the video can be watched while it is still processing. Sent once per
       * attempt; the edge records it (videos.playable_at) before acknowledging it.
       */
      type: z.literal("playable"),
      /** Segments stored so far, all rungs and the audio together. */
      segmentsPublished: z.number().int().nonnegative(),
      /** Segments the finished video will have, all rungs and the audio together (as planned). */
      segmentsTotal: z.number().int().nonnegative(),
    })
    .strict()
    .refine((e) => e.segmentsPublished <= e.segmentsTotal, {
      message: "segmentsPublished exceeds segmentsTotal",
    }),
  z
    .object({
      ...base,
      type: z.literal("uploading"),
      percent: Percent,
      files: z.number().int().nonnegative(),
      totalFiles: z.number().int().nonnegative(),
    })
    .strict(),
  z
    .object({
      ...base,
      type: z.literal("ready"),
      durationSeconds: z.number().positive(),
      sourceWidth: z.number().int().positive(),
      sourceHeight: z.number().int().positive(),
      renditions: z.array(Rendition).min(1).max(16),
      /** The source's size in bytes: how the edge learns it for a video imported from a URL. */
      sourceBytes: z.number().int().nonnegative().optional(),
      /** The storyboard, DASH manifest and download MP4 published beside the ladder (absent: none). */
      assets: DeliveryAssets.optional(),
    })
    .strict(),
  z.object({ ...base, type: z.literal("failed"), reason: z.string().min(1).max(1000) }).strict(),
]);
export type ProgressEvent = z.infer<typeof ProgressEvent>;
export type ProgressEventType = ProgressEvent["type"];

/** The events after which nothing more happens for the job; they are never dropped or throttled. */
export type TerminalEvent = Extract<ProgressEvent, { type: "ready" | "failed" }>;
export type TerminalEventType = TerminalEvent["type"];
export const TERMINAL_EVENTS: ReadonlySet<ProgressEventType> = new Set<TerminalEventType>([
  "ready",
  "failed",
]);
export const isTerminal = (e: ProgressEvent): e is TerminalEvent => TERMINAL_EVENTS.has(e.type);

/** Largest message either side accepts, in bytes; larger ones are answered with an error and dropped. */
export const MAX_MESSAGE_BYTES = 16 * 1024;

/** Publisher → DO. */
export const PublishMessage = z.object({ type: z.literal("publish"), event: ProgressEvent }).strict();
export type PublishMessage = z.infer<typeof PublishMessage>;

/** Subscriber → DO (keepalive; anything else from a subscriber is refused). */
export const PingMessage = z.object({ type: z.literal("ping") }).strict();

export const ClientMessage = z.discriminatedUnion("type", [PublishMessage, PingMessage]);
export type ClientMessage = z.infer<typeof ClientMessage>;

/** DO → any socket. */
export const ServerMessage = z.discriminatedUnion("type", [
  /** Sent at once to a subscriber that joins without `since` (or whose `since` is too old): the latest event. */
  z.object({ type: z.literal("snapshot"), event: ProgressEvent.nullable() }).strict(),
  /** A live or replayed event. */
  z.object({ type: z.literal("event"), event: ProgressEvent }).strict(),
  /**
   * To the publisher: this seq is stored (for a terminal or `playable` event: and written to Postgres), or
   * was a duplicate.
   */
  z.object({ type: z.literal("ack"), seq: z.number().int().nonnegative() }).strict(),
  z.object({ type: z.literal("pong") }).strict(),
  z.object({ type: z.literal("error"), code: z.string(), message: z.string() }).strict(),
]);
export type ServerMessage = z.infer<typeof ServerMessage>;

const utf8 = new TextEncoder();

/** UTF-8 size without encoding short strings: a UTF-16 unit is at most 3 UTF-8 bytes. */
function tooLarge(raw: string) {
  if (raw.length > MAX_MESSAGE_BYTES) return true;
  return raw.length * 3 > MAX_MESSAGE_BYTES && utf8.encode(raw).byteLength > MAX_MESSAGE_BYTES;
}

function parseJson(raw: unknown): unknown {
  if (typeof raw !== "string" || tooLarge(raw)) return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
}

/** Parses a socket frame from a publisher or subscriber; null for anything unknown, malformed or oversized. */
export function parseClientMessage(raw: unknown): ClientMessage | null {
  const parsed = ClientMessage.safeParse(parseJson(raw));
  return parsed.success ? parsed.data : null;
}

/** Parses a frame from the DO; null for anything unknown or malformed. */
export function parseServerMessage(raw: unknown): ServerMessage | null {
  const parsed = ServerMessage.safeParse(parseJson(raw));
  return parsed.success ? parsed.data : null;
}

/** Parses one progress event (e.g. from storage); null if it is not one. */
export function parseProgressEvent(input: unknown): ProgressEvent | null {
  const parsed = ProgressEvent.safeParse(input);
  return parsed.success ? parsed.data : null;
}

/** WebSocket subprotocol of the events endpoint. Browsers cannot set headers on a WebSocket, so the access
 * token travels as a second subprotocol `bearer.<token>` (never in the URL, which ends up in logs). */
export const EVENTS_PROTOCOL = "streamlet.progress.v1";
export const BEARER_PROTOCOL_PREFIX = "bearer.";

/** The subscriber socket's route on the edge, `{id}` standing for the video id (what eventsPath fills in). */
export const EVENTS_ROUTE = "/v1/videos/{id}/events";

/** The publisher socket's route on the edge, `{id}` standing for the video id (what publisherPath fills in). */
export const PUBLISHER_ROUTE = "/v1/internal/videos/{id}/progress";

/** Path of a video's subscriber socket on the edge (GET, WebSocket upgrade). */
export function eventsPath(videoId: string): string {
  return EVENTS_ROUTE.replace("{id}", encodeURIComponent(videoId));
}

/** Path of a video's publisher socket on the edge: the transcoder's only way to change a video's state. */
export function publisherPath(videoId: string): string {
  return PUBLISHER_ROUTE.replace("{id}", encodeURIComponent(videoId));
}

/** Header carrying the job's progress token on the publisher's upgrade (beside the transcoder secret). */
export const PROGRESS_TOKEN_HEADER = "X-Progress-Token";

/**
 * The video was deleted: the `error` frame's code sent to publishers, and the error code of the 410 a
 * publisher's reconnect gets. The job must stop and remove what it uploaded.
 */
export const VIDEO_DELETED = "video_deleted";
/** Close code every progress socket of a deleted video ends with (HTTP 410 Gone in the application range). */
export const CLOSE_VIDEO_DELETED = 4410;
export const CLOSE_VIDEO_DELETED_REASON = "video deleted";
