import { type ProgressEvent, parseProgressEvent } from "@streamlet/shared";
import { fromBase64Url, toBase64Url } from "../lib/bytes.ts";

/** Who a progress socket belongs to; also the socket's hibernation tag in the Durable Object. */
export type ProgressRole = "publisher" | "subscriber";

/** What the Worker tells a VideoProgress object about a connection it has already authenticated. */
export type Handoff = {
  role: ProgressRole;
  videoId: string;
  /** Subscribers only: the last seq the client has seen (`?since=`), or null for a snapshot. */
  since: number | null;
  /** Subscribers only: the state to show when the object has no events yet, built from the video row. */
  fallback: ProgressEvent | null;
};

// Only the Worker can reach a Durable Object, so these headers are trusted there; the client's own headers
// (its token above all) are never forwarded.
const ROLE = "X-Progress-Role";
const VIDEO_ID = "X-Progress-Video-Id";
const SINCE = "X-Progress-Since";
const FALLBACK = "X-Progress-Fallback";

/** The upgrade request the Worker sends to the video's object: internal headers only, nothing from the client. */
export function handoffRequest(handoff: Handoff): Request {
  const headers = new Headers({ Upgrade: "websocket", [ROLE]: handoff.role, [VIDEO_ID]: handoff.videoId });
  if (handoff.since !== null) headers.set(SINCE, String(handoff.since));
  if (handoff.fallback !== null) {
    headers.set(FALLBACK, toBase64Url(new TextEncoder().encode(JSON.stringify(handoff.fallback))));
  }
  return new Request("https://video-progress.internal/connect", { headers });
}

/** Reads a handoff in the object; null when a header is missing or malformed (a bug in the Worker). */
export function parseHandoff(request: Request): Handoff | null {
  const role = request.headers.get(ROLE);
  const videoId = request.headers.get(VIDEO_ID);
  if ((role !== "publisher" && role !== "subscriber") || !videoId) return null;
  const sinceText = request.headers.get(SINCE);
  const since = sinceText === null ? null : Number(sinceText);
  if (since !== null && !(Number.isSafeInteger(since) && since >= 0)) return null;
  const fallbackText = request.headers.get(FALLBACK);
  let fallback: ProgressEvent | null = null;
  if (fallbackText !== null) {
    const bytes = fromBase64Url(fallbackText);
    if (bytes === null) return null;
    try {
      fallback = parseProgressEvent(JSON.parse(new TextDecoder().decode(bytes)));
    } catch {
      return null;
    }
    if (fallback === null) return null;
  }
  return { role, videoId, since, fallback };
}
