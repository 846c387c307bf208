import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { EVENTS_PROTOCOL } from "@streamlet/shared";
import { eq } from "drizzle-orm";
import { videos } from "../db/schema.ts";
import type { AppEnv } from "../env.ts";
import { HttpError, notFound } from "../errors.ts";
import { errors, progressPublisherSecurity } from "../openapi.ts";
import { connectToProgress } from "../progress/connect.ts";
import { requireWebSocket } from "../progress/require-web-socket.ts";
import { isUuid } from "../videos/serialize.ts";
import { requireProgressToken } from "./require-progress-token.ts";
import { requireTranscoder } from "./require-transcoder.ts";

const publishProgress = createRoute({
  method: "get",
  path: "/videos/{id}/progress",
  tags: ["internal"],
  summary: "Transcoder progress publisher (WebSocket; the transcoder's only way to change a video's state)",
  description:
    "WebSocket upgrade. Needs `Authorization: Bearer $TRANSCODER_SECRET` and the job's `X-Progress-Token` " +
    "(minted by the edge at enqueue time: HS256, aud streamlet:progress, scope publish, sub = video id, " +
    `7 days). Subprotocol \`${EVENTS_PROTOCOL}\` is selected when offered. Frames: \`{type:"publish",event}\` ` +
    'and `{type:"ping"}` in; `{type:"ack",seq}` (stored, or a duplicate; for ready/failed only after the ' +
    'Postgres write), `{type:"pong"}` and `{type:"error",code,message}` (bad_message, persist_failed) out. ' +
    "After the terminal event is acknowledged the socket is closed with 1000. When the video is deleted " +
    'the publisher gets `{type:"error",code:"video_deleted"}` and close code 4410, and a new connection ' +
    "for a deleted video is answered 410 `video_deleted`: the transcoder stops the job and removes its output.",
  security: progressPublisherSecurity,
  middleware: [
    requireWebSocket({ protocol: EVENTS_PROTOCOL }),
    requireTranscoder(),
    requireProgressToken(),
  ] as const,
  request: {
    params: z.object({ id: z.string().openapi({ param: { name: "id", in: "path" }, format: "uuid" }) }),
    headers: z.object({
      upgrade: z.string().openapi({ example: "websocket" }),
      "x-progress-token": z.string().openapi({ description: "The job's progressToken" }),
    }),
  },
  responses: {
    101: { description: "Switching Protocols: the publisher socket" },
    ...errors({
      400: "unsupported_protocol: subprotocols offered, but not the events protocol",
      401: "Missing or wrong transcoder secret, or missing, forged or expired progress token",
      403: "The progress token is for another video",
      404: "Malformed video id",
      410: "video_deleted: the video no longer exists; stop the job",
      426: "upgrade_required: not a WebSocket upgrade",
    }),
  },
});

/** /v1/internal: routes for the transcoder, authenticated with TRANSCODER_SECRET, never user tokens. */
export const internalRoutes = new OpenAPIHono<AppEnv>().openapi(publishProgress, async (c) => {
  const { id } = c.req.valid("param");
  if (!isUuid(id)) throw notFound();
  // A deleted video's job must stop (the transcoder treats 410 as "cancelled"), not report into the void.
  const [row] = await c.var.db.select({ id: videos.id }).from(videos).where(eq(videos.id, id)).limit(1);
  if (!row) throw new HttpError(410, "video_deleted", "the video was deleted; stop the job");
  return connectToProgress(c.req, c.env, { role: "publisher", videoId: id, since: null, fallback: null });
});
