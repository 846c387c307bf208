import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { CreateVideoBody, EVENTS_PROTOCOL, ListVideosQuery, videoKeys } from "@streamlet/shared";
import { and, desc, eq, sql } from "drizzle-orm";
import { bearerToken, requireUser } from "../auth/require-user.ts";
import { signProgressToken } from "../auth/tokens.ts";
import { videos } from "../db/schema.ts";
import type { AppEnv } from "../env.ts";
import { HttpError, notFound } from "../errors.ts";
import { waitUntil } from "../middleware.ts";
import {
  CreateVideoResponseSchema,
  errors,
  json,
  jsonBody,
  userSecurity,
  VideoEnvelopeSchema,
  VideoListSchema,
  VideoSchema,
} from "../openapi.ts";
import { connectToProgress } from "../progress/connect.ts";
import { fallbackEvent } from "../progress/fallback.ts";
import { bearerFromProtocols, offeredProtocols } from "../progress/protocols.ts";
import { requireWebSocket } from "../progress/require-web-socket.ts";
import { Storage } from "../storage.ts";
import { decodeCursor, encodeCursor } from "./cursor.ts";
import { baseUrlOf, isUuid, toVideo } from "./serialize.ts";

const IdParam = z.object({
  id: z.string().openapi({ param: { name: "id", in: "path" }, format: "uuid" }),
});

const createVideo = createRoute({
  method: "post",
  path: "/",
  tags: ["videos"],
  summary: "Create a video and get a presigned upload URL for its source file",
  security: userSecurity,
  middleware: [requireUser()] as const,
  request: { body: jsonBody(CreateVideoBody) },
  responses: {
    201: json(CreateVideoResponseSchema, "Created; PUT the source file to upload.url"),
    ...errors({ 400: "Invalid body", 401: "Not signed in", 415: "Body is not JSON" }),
  },
});

const markUploaded = createRoute({
  method: "post",
  path: "/{id}/uploaded",
  tags: ["videos"],
  summary: "Confirm the source upload and queue the video for transcoding (idempotent)",
  security: userSecurity,
  middleware: [requireUser()] as const,
  request: { params: IdParam },
  responses: {
    202: json(VideoEnvelopeSchema, "Queued (also answered again while it stays queued)"),
    ...errors({
      401: "Not signed in",
      404: "No such video, or not yours",
      409: "upload_missing: nothing was uploaded; invalid_state: already processing, ready or failed",
      422: "upload_empty: the uploaded file is empty",
      503: "queue_unavailable",
    }),
  },
});

const getVideo = createRoute({
  method: "get",
  path: "/{id}",
  tags: ["videos"],
  summary: "Get a video",
  request: { params: IdParam },
  responses: { 200: json(VideoSchema, "The video"), ...errors({ 404: "No such video" }) },
});

const subscribeEvents = createRoute({
  method: "get",
  path: "/{id}/events",
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
    params: IdParam,
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

const listVideos = createRoute({
  method: "get",
  path: "/",
  tags: ["videos"],
  summary: "List ready videos, newest first",
  request: { query: ListVideosQuery },
  responses: {
    200: json(VideoListSchema, "A page of ready videos"),
    ...errors({ 400: "invalid_request or invalid_cursor" }),
  },
});

/** The subscriber's access token: `Authorization: Bearer` (non-browser clients) or the bearer subprotocol. */
function subscriberToken(authorization: string | undefined, protocols: string | undefined): string | null {
  return bearerToken(authorization) ?? bearerFromProtocols(offeredProtocols(protocols));
}

/** /v1/videos: create, confirm upload, read, list, live progress. */
export const videoRoutes = new OpenAPIHono<AppEnv>()
  .openapi(createVideo, async (c) => {
    const body = c.req.valid("json");
    const [row] = await c.var.db
      .insert(videos)
      .values({ ownerId: c.var.userId, title: body.title, description: body.description ?? null })
      .returning();
    if (!row) throw new Error("insert into videos returned no row");
    const upload = await new Storage(c.var.config.s3).presignPut(videoKeys(row.id).source);
    const video = toVideo(row, baseUrlOf(c.var.config.publicBaseUrl, c.req.url));
    return c.json({ video, upload }, 201);
  })
  .openapi(markUploaded, async (c) => {
    const { id } = c.req.valid("param");
    if (!isUuid(id)) throw notFound();
    const { db, config } = c.var;
    const [row] = await db
      .select()
      .from(videos)
      .where(and(eq(videos.id, id), eq(videos.ownerId, c.var.userId)))
      .limit(1);
    if (!row) throw notFound();
    if (row.status !== "awaiting_upload" && row.status !== "queued") {
      throw new HttpError(409, "invalid_state", `the video is already ${row.status}`);
    }

    const keys = videoKeys(id);
    const size = await new Storage(config.s3).headSize(keys.source);
    if (size === null) {
      throw new HttpError(409, "upload_missing", "no source file has been uploaded for this video yet");
    }
    if (size === 0) throw new HttpError(422, "upload_empty", "the uploaded source file is empty");

    // Queued first, then the job: a fast transcoder's first progress event must find the video queued.
    // Conditional, so a status the transcoder already reported is never moved back to queued.
    const [updated] = await db
      .update(videos)
      .set({ status: "queued", sourceBytes: size, updatedAt: sql`now()` })
      .where(and(eq(videos.id, id), eq(videos.status, "awaiting_upload")))
      .returning();
    try {
      // Loaded on first use: bullmq and ioredis are most of the Worker and only this route needs them.
      const { enqueueTranscode } = await import("../queue.ts");
      const { cleanup } = await enqueueTranscode(config.redisUrl, {
        videoId: id,
        input: { key: keys.source },
        output: { prefix: keys.outputPrefix },
        progressToken: await signProgressToken(id, config.jwtSecret),
      });
      waitUntil(c, cleanup);
    } catch (error) {
      // Nothing was queued: put the video back so the client's retry starts from a clean state.
      if (updated) {
        await db
          .update(videos)
          .set({ status: "awaiting_upload", updatedAt: sql`now()` })
          .where(and(eq(videos.id, id), eq(videos.status, "queued")));
      }
      throw error;
    }
    const current = updated ?? (await db.select().from(videos).where(eq(videos.id, id)).limit(1))[0];
    if (!current) throw notFound();
    return c.json({ video: toVideo(current, baseUrlOf(config.publicBaseUrl, c.req.url)) }, 202);
  })
  .openapi(getVideo, async (c) => {
    const { id } = c.req.valid("param");
    if (!isUuid(id)) throw notFound();
    const [row] = await c.var.db.select().from(videos).where(eq(videos.id, id)).limit(1);
    if (!row) throw notFound();
    return c.json(toVideo(row, baseUrlOf(c.var.config.publicBaseUrl, c.req.url)), 200);
  })
  .openapi(subscribeEvents, async (c) => {
    const { id } = c.req.valid("param");
    if (!isUuid(id)) throw notFound();
    const [row] = await c.var.db
      .select()
      .from(videos)
      .where(and(eq(videos.id, id), eq(videos.ownerId, c.var.userId)))
      .limit(1);
    if (!row) throw notFound();
    const since = c.req.valid("query").since ?? null;
    return connectToProgress(c.req, c.env, {
      role: "subscriber",
      videoId: id,
      since,
      fallback: fallbackEvent(row),
    });
  })
  .openapi(listVideos, async (c) => {
    const { limit, cursor: cursorText } = c.req.valid("query");
    const cursor = cursorText === undefined ? null : decodeCursor(cursorText);
    if (cursorText !== undefined && cursor === null) {
      throw new HttpError(400, "invalid_cursor", "cursor is not one this API returned");
    }
    const rows = await c.var.db
      .select()
      .from(videos)
      .where(
        and(
          eq(videos.status, "ready"),
          cursor
            ? sql`(${videos.createdAt}, ${videos.id}) < (${cursor.createdAt.toISOString()}::timestamptz, ${cursor.id}::uuid)`
            : undefined,
        ),
      )
      .orderBy(desc(videos.createdAt), desc(videos.id))
      .limit(limit + 1);
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    const baseUrl = baseUrlOf(c.var.config.publicBaseUrl, c.req.url);
    return c.json(
      {
        videos: page.map((row) => toVideo(row, baseUrl)),
        nextCursor: rows.length > limit && last ? encodeCursor(last) : null,
      },
      200,
    );
  });
