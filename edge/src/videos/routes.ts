import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import {
  CLOSE_VIDEO_DELETED,
  CreateVideoBody,
  ListVideosQuery,
  outputPrefix,
  UpdateVideoBody,
  VIDEO_DELETED,
} from "@streamlet/shared";
import { and, eq, sql } from "drizzle-orm";
import type { Context } from "hono";
import { optionalUser } from "../auth/optional-user.ts";
import { requireUser } from "../auth/require-user.ts";
import { type CaptionTrack, captionsByVideo } from "../captions/store.ts";
import { channelRefOf, isSubscribed, ownerChannel } from "../channels/refs.ts";
import type { Config } from "../config.ts";
import type { Db } from "../db/client.ts";
import { videos } from "../db/schema.ts";
import { engagementForRead, statsForRead } from "../engagement/stats.ts";
import type { AppEnv } from "../env.ts";
import { HttpError, loggable, notFound } from "../errors.ts";
import { idParams } from "../ids.ts";
import { waitUntil } from "../middleware.ts";
import {
  CreateVideoResponseSchema,
  errors,
  json,
  jsonBody,
  userSecurity,
  VideoDetailSchema,
  VideoEnvelopeSchema,
  VideoListSchema,
  VideoSchema,
} from "../openapi.ts";
import { purgeVideoCache } from "../play/purge.ts";
import { playbackTokenFor } from "../play/token.ts";
import { spendQuota } from "../rate-limit/user-quotas.ts";
import { Storage } from "../storage.ts";
import { canRead, ownedVideo, videoById } from "./access.ts";
import { changeStatus } from "./change-status.ts";
import { importVideo } from "./import.ts";
import { publicVideoPage } from "./public-page.ts";
import { removeVideo } from "./remove.ts";
import { retryVideo } from "./retry.ts";
import { baseUrlOf, toVideo } from "./serialize.ts";
import { checkSourceSize, finishUpload, insertWithinQuota, startUpload } from "./source-upload.ts";
import { transcodeJobFor } from "./transcode-job.ts";

const NO_STATS = { views: 0, likes: 0, dislikes: 0, comments: 0 };

const IdParam = idParams();

const createVideo = createRoute({
  method: "post",
  path: "/",
  tags: ["videos"],
  summary:
    "Create a video and start the upload of its source file (one presigned PUT, or a multipart upload)",
  description:
    "`upload.size` is the file's exact size in bytes. Files up to MULTIPART_THRESHOLD_BYTES get `upload.kind` " +
    "`single`: PUT the file to `upload.url` (signed for exactly that size). Larger ones get `multipart`: " +
    "part n is bytes [(n-1)·partSize, n·partSize) of the file; get part URLs from POST " +
    "/v1/videos/{id}/upload/parts, PUT the parts (in parallel, any order), then POST /v1/videos/{id}/uploaded. " +
    "GET /v1/videos/{id}/upload says what storage already holds, to resume. With `source.url` instead of " +
    "`upload`, a transcoder node imports the file from that http(s) URL (private, loopback, link-local and " +
    "metadata addresses refused, on every redirect) and transcodes it: the video starts `queued`, `upload` is " +
    "null, and a failed import ends the video `failed` with the reason.",
  security: userSecurity,
  middleware: [requireUser()] as const,
  request: { body: jsonBody(CreateVideoBody) },
  responses: {
    201: json(CreateVideoResponseSchema, "Created; upload the source as `upload` says"),
    ...errors({
      400: "Invalid body",
      401: "Not signed in",
      403: "storage_quota_exceeded: the file does not fit in your storage quota (STORAGE_QUOTA_BYTES)",
      413: "source_too_large: the file is larger than MAX_SOURCE_BYTES",
      415: "Body is not JSON",
      429: "rate_limited: too many videos created (RATE_LIMIT_VIDEOS per user); retry after Retry-After seconds",
    }),
  },
});

const markUploaded = createRoute({
  method: "post",
  path: "/{id}/uploaded",
  tags: ["videos"],
  summary: "Confirm the source upload and queue the video for transcoding (idempotent)",
  description:
    "A multipart upload is completed here from the parts storage holds (never from ETags a client sends).",
  security: userSecurity,
  middleware: [requireUser()] as const,
  request: { params: IdParam },
  responses: {
    202: json(VideoEnvelopeSchema, "Queued (also answered again while it stays queued)"),
    ...errors({
      401: "Not signed in",
      404: "No such video, or not yours",
      409:
        "upload_missing: nothing was uploaded; upload_incomplete: parts are missing (the message lists " +
        "them); invalid_state: already processing, ready or failed",
      413: "source_too_large: the stored file is larger than MAX_SOURCE_BYTES (it was discarded)",
      422:
        "upload_empty: the uploaded file is empty; upload_size_mismatch: it is not the size declared (it " +
        "was discarded: upload it again)",
      503: "queue_unavailable",
    }),
  },
});

const retry = createRoute({
  method: "post",
  path: "/{id}/retry",
  tags: ["videos"],
  summary: "Transcode your failed video again from its stored source",
  description:
    "A new run: what the failed one left is removed, the failure cleared, and the video queued again; its " +
    "progress channel starts over with `queued` (subscribe with closeAfterTerminal: false to follow retries).",
  security: userSecurity,
  middleware: [requireUser()] as const,
  request: { params: IdParam },
  responses: {
    202: json(VideoEnvelopeSchema, "Queued again"),
    ...errors({
      401: "Not signed in",
      404: "No such video, or not yours",
      409: "invalid_state: the video is not failed; source_missing: its source is not in storage",
      503: "queue_unavailable",
    }),
  },
});

const getVideo = createRoute({
  method: "get",
  path: "/{id}",
  tags: ["videos"],
  summary: "Get a video (a private one only for its owner, with signed playback URLs)",
  description:
    "Anonymous callers may omit Authorization. A private video's owner gets playback URLs below " +
    "`/v1/play/<id>/t/<token>/` (valid for 6 hours); everyone else gets 404 for it. With a valid access " +
    "token the answer adds `viewer`: whether the caller owns the video, their reaction (null also when the " +
    "engagement store could not be read, then `stats` is absent too) and whether they subscribe to the " +
    "video's channel (false when it has none). Anonymous answers have no `viewer`.",
  security: [{}, ...userSecurity],
  middleware: [optionalUser()] as const,
  request: { params: IdParam },
  responses: {
    200: json(VideoDetailSchema, "The video"),
    ...errors({ 401: "An access token was sent but is invalid or expired", 404: "No such video" }),
  },
});

const updateVideo = createRoute({
  method: "patch",
  path: "/{id}",
  tags: ["videos"],
  summary: "Change your video's title, description, visibility or whether viewers may download it",
  security: userSecurity,
  middleware: [requireUser()] as const,
  request: { params: IdParam, body: jsonBody(UpdateVideoBody) },
  responses: {
    200: json(VideoSchema, "The updated video"),
    ...errors({
      400: "Invalid body (unknown fields, or none of title, description, visibility, downloadsEnabled)",
      401: "Not signed in",
      404: "No such video, or not yours",
      415: "Body is not JSON",
    }),
  },
});

const deleteVideo = createRoute({
  method: "delete",
  path: "/{id}",
  tags: ["videos"],
  summary:
    "Delete your video: its row, engagement, stored files and cached copies; a queued job is removed and a running one stopped",
  description:
    `A waiting transcode job is removed; a running one is told on its progress channel (${VIDEO_DELETED}, ` +
    `close ${CLOSE_VIDEO_DELETED}), stops and removes what it uploaded. Cached copies are purged here and, when the purge ` +
    "API is configured, in every data centre.",
  security: userSecurity,
  middleware: [requireUser()] as const,
  request: { params: IdParam },
  responses: {
    204: { description: "Deleted" },
    ...errors({ 401: "Not signed in", 404: "No such video, or not yours", 503: "queue_unavailable" }),
  },
});

const listVideos = createRoute({
  method: "get",
  path: "/",
  tags: ["videos"],
  summary: "List public ready videos, newest first; with q, those whose title or description match",
  request: { query: ListVideosQuery },
  responses: {
    200: json(VideoListSchema, "A page of ready videos"),
    ...errors({ 400: "invalid_request or invalid_cursor" }),
  },
});

/** One video's caption tracks (lists load a page's in one query: captionsByVideo). */
async function captionsOf(db: Db, id: string): Promise<readonly CaptionTrack[]> {
  return (await captionsByVideo(db, [id])).get(id) ?? [];
}

/** A route context with extra variables (callerId, userId), as the helpers typed for AppEnv take it. */
const asApp = (c: Context) => c as unknown as Context<AppEnv>;

/**
 * Lists a video's stored assets and drops their cached copies of `generation` everywhere; failures are
 * logged, never thrown.
 */
async function purgeStoredVideo(config: Config, id: string, generation: number): Promise<void> {
  try {
    const keys = await new Storage(config.s3).listKeys(outputPrefix(id));
    await purgeVideoCache(config, id, generation, keys);
  } catch (error) {
    console.error(`purging cached assets of ${id} failed:`, loggable(error));
  }
}

/** /v1/videos: create, confirm upload, read, change, delete, list (live progress: progress/routes.ts). */
export const videoRoutes = new OpenAPIHono<AppEnv>()
  .openapi(createVideo, async (c) => {
    const body = c.req.valid("json");
    const { db, config } = c.var;
    await spendQuota(c, "videos", c.var.userId);
    const metadata = {
      title: body.title,
      description: body.description ?? null,
      visibility: body.visibility ?? "public",
    };
    const baseUrl = baseUrlOf(config.publicBaseUrl, c.req.url);
    if (body.source) {
      const row = await importVideo(
        { config, db, waitUntil: (promise) => waitUntil(c, promise) },
        c.var.userId,
        metadata,
        body.source.url,
      );
      const channel = await channelRefOf(db, c.var.userId);
      const video = toVideo(row, { baseUrl, viewerId: c.var.userId, channel });
      return c.json({ video, upload: null }, 201);
    }
    const upload = body.upload as NonNullable<typeof body.upload>;
    checkSourceSize(upload.size, config.uploads);
    const row = await insertWithinQuota(db, config.uploads, c.var.userId, upload.size, {
      ...metadata,
      sourceContentType: upload.contentType ?? null,
      sourceFileName: upload.fileName ?? null,
    });
    let started: Awaited<ReturnType<typeof startUpload>>;
    try {
      started = await startUpload(db, config, row, upload);
    } catch (error) {
      // Storage refused: no video without an upload to make.
      await db.delete(videos).where(eq(videos.id, row.id));
      throw error;
    }
    const channel = await channelRefOf(db, c.var.userId);
    const video = toVideo(started.row, { baseUrl, viewerId: c.var.userId, channel });
    return c.json({ video, upload: started.ticket }, 201);
  })
  .openapi(markUploaded, async (c) => {
    const { id } = c.req.valid("param");
    const { db, config } = c.var;
    const row = await ownedVideo(db, id, c.var.userId);
    // Only an upload moves a video to queued here (a failed one is retried with POST /retry).
    if (row.status !== "awaiting_upload" && row.status !== "queued") {
      throw new HttpError(409, "invalid_state", `the video is already ${row.status}`);
    }
    if (row.sourceUrl !== null) {
      throw new HttpError(
        409,
        "invalid_state",
        "this video is imported from a URL: there is no upload to confirm",
      );
    }

    // A repeat while queued finds the source in place (the upload was completed the first time).
    const size =
      row.status === "queued" && row.sourceBytes !== null
        ? row.sourceBytes
        : await finishUpload(db, config, row);

    // Queued first, then the job: a fast transcoder's first progress event must find the video queued.
    // Through the state machine, so a status the transcoder already reported is never moved back.
    const queued = await changeStatus(db, id, "queued", { sourceBytes: size });
    if (queued.outcome === "missing") throw notFound();
    if (queued.outcome === "rejected") {
      throw new HttpError(409, "invalid_state", `the video is already ${queued.row.status}`);
    }
    try {
      // Loaded on first use: bullmq and ioredis are most of the Worker and only this route needs them.
      const { enqueueTranscode } = await import("../queue.ts");
      // A retried video confirmed again (a client repeating /uploaded) names its own run.
      const { cleanup } = await enqueueTranscode(config.redisUrl, await transcodeJobFor(config, row));
      waitUntil(c, cleanup);
    } catch (error) {
      // Nothing was queued: put the video back so the client's retry starts from a clean state.
      if (queued.outcome === "applied") await changeStatus(db, id, "awaiting_upload");
      throw error;
    }
    const channel = await channelRefOf(db, c.var.userId);
    const baseUrl = baseUrlOf(config.publicBaseUrl, c.req.url);
    const captions = await captionsOf(db, id);
    return c.json(
      { video: toVideo(queued.row, { baseUrl, viewerId: c.var.userId, channel, captions }) },
      202,
    );
  })
  .openapi(retry, async (c) => {
    const { id } = c.req.valid("param");
    const { db, config } = c.var;
    const row = await ownedVideo(db, id, c.var.userId);
    const queued = await retryVideo(
      { config, db, env: c.env, waitUntil: (promise) => waitUntil(c, promise) },
      row,
    );
    const channel = await channelRefOf(db, c.var.userId);
    const baseUrl = baseUrlOf(config.publicBaseUrl, c.req.url);
    const captions = await captionsOf(db, id);
    return c.json({ video: toVideo(queued, { baseUrl, viewerId: c.var.userId, channel, captions }) }, 202);
  })
  .openapi(getVideo, async (c) => {
    const { id } = c.req.valid("param");
    const { db, callerId } = c.var;
    const row = await videoById(db, id);
    if (!row || !canRead(row, callerId)) throw notFound();
    // Nothing can be counted or reacted to before a video is ready: no need to ask the store.
    const { stats, reaction } =
      row.status === "ready"
        ? await engagementForRead(asApp(c), row.id, callerId)
        : { stats: NO_STATS, reaction: null };
    const [channel, captions] = await Promise.all([ownerChannel(db, row.ownerId), captionsOf(db, row.id)]);
    const video = toVideo(row, {
      baseUrl: baseUrlOf(c.var.config.publicBaseUrl, c.req.url),
      viewerId: callerId,
      channel: channel && { handle: channel.handle, name: channel.name },
      captions,
      stats,
      playbackToken: await playbackTokenFor(row, c.var.config.jwtSecret),
    });
    if (callerId === null) return c.json(video, 200);
    const viewer = {
      isOwner: row.ownerId === callerId,
      reaction,
      subscribed: channel !== null && (await isSubscribed(db, callerId, channel.id)),
    };
    return c.json({ ...video, viewer }, 200);
  })
  .openapi(updateVideo, async (c) => {
    const { id } = c.req.valid("param");
    const body = c.req.valid("json");
    const { db, config } = c.var;
    const [before] = await db
      .select({ visibility: videos.visibility, cacheGeneration: videos.cacheGeneration })
      .from(videos)
      .where(and(eq(videos.id, id), eq(videos.ownerId, c.var.userId)))
      .limit(1);
    if (!before) throw notFound();
    const [row] = await db
      .update(videos)
      .set({
        ...(body.title !== undefined ? { title: body.title } : {}),
        ...(body.description !== undefined ? { description: body.description } : {}),
        ...(body.visibility !== undefined ? { visibility: body.visibility } : {}),
        // Download URLs are checked against it on every request: turning it off stops those handed out.
        ...(body.downloadsEnabled !== undefined ? { downloadsEnabled: body.downloadsEnabled } : {}),
        // A new visibility starts a new cache generation: no copy cached under the old one is served again.
        ...(body.visibility !== undefined && body.visibility !== before.visibility
          ? { cacheGeneration: sql`${videos.cacheGeneration} + 1` }
          : {}),
        updatedAt: sql`now()`,
      })
      .where(and(eq(videos.id, id), eq(videos.ownerId, c.var.userId)))
      .returning();
    if (!row) throw notFound();
    const baseUrl = baseUrlOf(config.publicBaseUrl, c.req.url);
    if (row.status === "ready" && row.visibility !== before.visibility) {
      // The old generation's copies are no longer looked up; dropping them (and the cached state, so
      // this data centre applies the change at once) frees the cache.
      waitUntil(c, purgeStoredVideo(config, id, before.cacheGeneration));
    }
    const stats = row.status === "ready" ? (await statsForRead(asApp(c), [row.id])).get(row.id) : NO_STATS;
    const [channel, captions] = await Promise.all([channelRefOf(db, c.var.userId), captionsOf(db, id)]);
    const playbackToken = await playbackTokenFor(row, config.jwtSecret);
    return c.json(
      toVideo(row, { baseUrl, viewerId: c.var.userId, channel, captions, stats, playbackToken }),
      200,
    );
  })
  .openapi(deleteVideo, async (c) => {
    const { id } = c.req.valid("param");
    const { db, config } = c.var;
    const row = await ownedVideo(db, id, c.var.userId);
    await removeVideo({ config, db, env: c.env, waitUntil: (promise) => waitUntil(c, promise) }, row);
    return c.body(null, 204);
  })
  .openapi(listVideos, async (c) => c.json(await publicVideoPage(c, c.req.valid("query")), 200));
