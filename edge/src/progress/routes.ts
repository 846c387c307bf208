import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import {
  CLOSE_VIDEO_DELETED,
  EVENTS_PROTOCOL,
  EVENTS_ROUTE,
  PROGRESS_TOKEN_HEADER,
  PUBLISHER_ROUTE,
  VIDEO_DELETED,
} from "@streamlet/shared";
import type { Context } from "hono";
import { bearerToken, requireUser } from "../auth/require-user.ts";
import type { AppEnv, UserVariables } from "../env.ts";
import { HttpError } from "../errors.ts";
import { idParams } from "../ids.ts";
import { errors, progressPublisherSecurity, userSecurity } from "../openapi.ts";
import { ownedVideo, videoById } from "../videos/access.ts";
import { connectToProgress } from "./connect.ts";
import { fallbackEvent } from "./fallback.ts";
import { bearerFromProtocols, offeredProtocols } from "./protocols.ts";
import { requireProgressToken } from "./require-progress-token.ts";
import { requireTranscoder } from "./require-transcoder.ts";
import { requireWebSocket } from "./require-web-socket.ts";

// Full paths (progressRoutes is mounted at the root): the routes shared's eventsPath and publisherPath fill in.
const subscribeEvents = createRoute({
  method: "get",
  path: EVENTS_ROUTE,
  tags: ["videos"],
  summary: "Live transcode progress of your video (WebSocket)",
  description:
    "WebSocket upgrade. Browsers authenticate by offering the subprotocols " +
    `\`["${EVENTS_PROTOCOL}", "bearer.<access token>"]\` (the 101 selects \`${EVENTS_PROTOCOL}\` only); other ` +
    "clients may send `Authorization: Bearer <access token>` instead. The token never goes in the URL. " +
    'On joining: `{type:"snapshot",event}` (the latest event, or one built from the video, or null), or with ' +
    '`?since=<seq>` every stored event after it as `{type:"event",event}`. Then live `{type:"event",event}`. ' +
    'Send `{type:"ping"}` for `{type:"pong"}`; anything else is answered `{type:"error",code}` ' +
    "(forbidden, bad_message) and dropped.",
  security: userSecurity,
  middleware: [
    requireWebSocket({ protocol: EVENTS_PROTOCOL }),
    requireUser({
      token: (c) => subscriberToken(c.req.header("authorization"), c.req.header("sec-websocket-protocol")),
    }),
  ] as const,
  request: {
    params: idParams(),
    query: z.object({
      since: z
        .string()
        .regex(/^\d{1,15}$/, { message: "must be a sequence number" })
        .transform(Number)
        .optional()
        .openapi({ description: "Replay the events after this seq instead of sending a snapshot" }),
    }),
  },
  responses: {
    101: { description: "Switching Protocols: the subscriber socket" },
    ...errors({
      400: "invalid_request (since), unsupported_protocol (subprotocols offered, but not the events protocol)",
      401: "Missing, invalid or expired access token",
      404: "No such video, or not yours",
      426: "upgrade_required: not a WebSocket upgrade",
    }),
  },
});

const publishProgress = createRoute({
  method: "get",
  path: PUBLISHER_ROUTE,
  tags: ["internal"],
  summary: "Transcoder progress publisher (WebSocket; the transcoder's only way to change a video's state)",
  description:
    `WebSocket upgrade. Needs \`Authorization: Bearer $TRANSCODER_SECRET\` and the job's \`${PROGRESS_TOKEN_HEADER}\` ` +
    "(minted by the edge at enqueue time: HS256, aud streamlet:progress, scope publish, sub = video id, " +
    `7 days). Subprotocol \`${EVENTS_PROTOCOL}\` is selected when offered. Frames: \`{type:"publish",event}\` ` +
    'and `{type:"ping"}` in; `{type:"ack",seq}` (stored, or a duplicate; for ready/failed only after the ' +
    'Postgres write), `{type:"pong"}` and `{type:"error",code,message}` (bad_message, persist_failed) out. ' +
    "After the terminal event is acknowledged the socket is closed with 1000. When the video is deleted " +
    `the publisher gets \`{type:"error",code:"${VIDEO_DELETED}"}\` and close code ${CLOSE_VIDEO_DELETED}, and a new connection ` +
    `for a deleted video is answered 410 \`${VIDEO_DELETED}\`: the transcoder stops the job and removes its output.`,
  security: progressPublisherSecurity,
  middleware: [
    requireWebSocket({ protocol: EVENTS_PROTOCOL }),
    requireTranscoder(),
    requireProgressToken(),
  ] as const,
  request: {
    params: idParams(),
    headers: z.object({
      upgrade: z.string().openapi({ example: "websocket" }),
      [PROGRESS_TOKEN_HEADER.toLowerCase()]: z.string().openapi({ description: "The job's progressToken" }),
    }),
  },
  responses: {
    101: { description: "Switching Protocols: the publisher socket" },
    ...errors({
      400: "unsupported_protocol: subprotocols offered, but not the events protocol",
      401: "Missing or wrong transcoder secret, or missing, forged or expired progress token",
      403: "The progress token is for another video",
      404: "Malformed video id",
      410: `${VIDEO_DELETED}: the video no longer exists; stop the job`,
      426: "upgrade_required: not a WebSocket upgrade",
    }),
  },
});

/** The subscriber's access token: `Authorization: Bearer` (non-browser clients) or the bearer subprotocol. */
function subscriberToken(authorization: string | undefined, protocols: string | undefined): string | null {
  return bearerToken(authorization) ?? bearerFromProtocols(offeredProtocols(protocols));
}

/** A route context behind requireUser(). */
const asOwner = (c: Context) => c as unknown as Context<AppEnv & { Variables: UserVariables }>;

/**
 * The two ends of a video's live progress channel (mounted at the root): the owner's subscriber socket and the
 * transcoder's publisher socket, both handed to the video's VideoProgress object.
 */
export const progressRoutes = new OpenAPIHono<AppEnv>()
  .openapi(subscribeEvents, async (c) => {
    const { id } = c.req.valid("param");
    const row = await ownedVideo(c.var.db, id, asOwner(c).var.userId);
    const since = c.req.valid("query").since ?? null;
    return connectToProgress(c.req, c.env, {
      role: "subscriber",
      videoId: id,
      since,
      fallback: fallbackEvent(row),
    });
  })
  .openapi(publishProgress, async (c) => {
    const { id } = c.req.valid("param");
    // A deleted video's job must stop (the transcoder treats 410 as "cancelled"), not report into the void.
    if ((await videoById(c.var.db, id)) === null) {
      throw new HttpError(410, VIDEO_DELETED, "the video was deleted; stop the job");
    }
    return connectToProgress(c.req, c.env, { role: "publisher", videoId: id, since: null, fallback: null });
  });
