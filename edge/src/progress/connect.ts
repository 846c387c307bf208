import { EVENTS_PROTOCOL } from "@streamlet/shared";
import { type Handoff, handoffRequest } from "./handoff.ts";
import { offeredProtocols } from "./protocols.ts";

/** The part of the client's request the answer depends on (Hono's `c.req`). */
type HonoRequestLike = { header(name: string): string | undefined };

/**
 * Hands an authenticated upgrade to the video's VideoProgress object and answers the client's handshake
 * with the object's socket, selecting EVENTS_PROTOCOL when the client offered it (never any other offered
 * value: the `bearer.<token>` entry is not echoed).
 */
export async function connectToProgress(
  request: HonoRequestLike,
  env: Env,
  handoff: Handoff,
): Promise<Response> {
  const namespace = env.VIDEO_PROGRESS;
  const res = await namespace.get(namespace.idFromName(handoff.videoId)).fetch(handoffRequest(handoff));
  if (res.status !== 101 || res.webSocket === null) {
    throw new Error(`the progress object answered the handoff with HTTP ${res.status}: ${await res.text()}`);
  }
  const headers = new Headers();
  if (offeredProtocols(request.header("sec-websocket-protocol")).includes(EVENTS_PROTOCOL)) {
    headers.set("Sec-WebSocket-Protocol", EVENTS_PROTOCOL);
  }
  return new Response(null, { status: 101, webSocket: res.webSocket, headers });
}
