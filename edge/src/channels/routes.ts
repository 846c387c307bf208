import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { CreateChannelBody, ListVideosQuery, UpdateChannelBody } from "@streamlet/shared";
import { and, eq, or, sql } from "drizzle-orm";
import { optionalUser } from "../auth/optional-user.ts";
import { requireUser } from "../auth/require-user.ts";
import type { Db } from "../db/client.ts";
import { channels, subscriptions, videos } from "../db/schema.ts";
import type { AppEnv } from "../env.ts";
import { HttpError, notFound } from "../errors.ts";
import { errors, json, jsonBody, userSecurity, VideoListSchema } from "../openapi.ts";
import { publicVideoPage } from "../videos/public-page.ts";
import { ChannelDetailSchema, ChannelSchema } from "./openapi.ts";
import { isSubscribed } from "./refs.ts";
import { normalHandle, subscriberCounts, toChannel } from "./serialize.ts";

const HandleParam = z.object({
  handle: z.string().openapi({ param: { name: "handle", in: "path" }, example: "cooking_daily" }),
});

const createChannel = createRoute({
  method: "post",
  path: "/",
  tags: ["channels"],
  summary: "Create your channel (one per user)",
  security: userSecurity,
  middleware: [requireUser()] as const,
  request: { body: jsonBody(CreateChannelBody) },
  responses: {
    201: json(ChannelSchema, "Created"),
    ...errors({
      400: "Invalid body",
      401: "Not signed in",
      409: "channel_exists: you already have a channel; handle_taken: another channel has this handle",
      415: "Body is not JSON",
    }),
  },
});

const getChannel = createRoute({
  method: "get",
  path: "/{handle}",
  tags: ["channels"],
  summary: "Get a channel with its subscriber count (and, signed in, whether you subscribe to it)",
  description:
    "Anonymous callers may omit Authorization. With a valid access token the answer adds `subscribed`; " +
    "without one it has no `subscribed` key.",
  security: [{}, ...userSecurity],
  middleware: [optionalUser()] as const,
  request: { params: HandleParam },
  responses: {
    200: json(ChannelDetailSchema, "The channel"),
    ...errors({ 401: "An access token was sent but is invalid or expired", 404: "No such channel" }),
  },
});

const updateChannel = createRoute({
  method: "patch",
  path: "/{handle}",
  tags: ["channels"],
  summary: "Change your channel's name or description",
  security: userSecurity,
  middleware: [requireUser()] as const,
  request: { params: HandleParam, body: jsonBody(UpdateChannelBody) },
  responses: {
    200: json(ChannelSchema, "The updated channel"),
    ...errors({
      400: "Invalid body",
      401: "Not signed in",
      404: "No such channel, or not yours",
      415: "Body is not JSON",
    }),
  },
});

const deleteChannel = createRoute({
  method: "delete",
  path: "/{handle}",
  tags: ["channels"],
  summary: "Delete your channel and its subscriptions (your videos stay)",
  security: userSecurity,
  middleware: [requireUser()] as const,
  request: { params: HandleParam },
  responses: {
    204: { description: "Deleted" },
    ...errors({ 401: "Not signed in", 404: "No such channel, or not yours" }),
  },
});

const subscribe = createRoute({
  method: "put",
  path: "/{handle}/subscription",
  tags: ["channels"],
  summary: "Subscribe to a channel (idempotent)",
  security: userSecurity,
  middleware: [requireUser()] as const,
  request: { params: HandleParam },
  responses: {
    200: json(ChannelSchema, "Subscribed; the channel with its new subscriber count"),
    ...errors({
      400: "own_channel: you cannot subscribe to your own",
      401: "Not signed in",
      404: "No such channel",
    }),
  },
});

const unsubscribe = createRoute({
  method: "delete",
  path: "/{handle}/subscription",
  tags: ["channels"],
  summary: "Unsubscribe from a channel (idempotent)",
  security: userSecurity,
  middleware: [requireUser()] as const,
  request: { params: HandleParam },
  responses: {
    204: { description: "Not subscribed (any more)" },
    ...errors({ 401: "Not signed in", 404: "No such channel" }),
  },
});

const channelVideos = createRoute({
  method: "get",
  path: "/{handle}/videos",
  tags: ["channels"],
  summary:
    "The channel owner's public ready videos, newest first; with q, those whose title or description match",
  request: { params: HandleParam, query: ListVideosQuery },
  responses: {
    200: json(VideoListSchema, "A page of videos"),
    ...errors({ 400: "invalid_request or invalid_cursor", 404: "No such channel" }),
  },
});

async function channelByHandle(db: Db, handle: string) {
  const normal = normalHandle(handle);
  if (normal === null) return null;
  const [row] = await db.select().from(channels).where(eq(channels.handle, normal)).limit(1);
  return row ?? null;
}

/** The caller's own channel by handle; 404 for a missing channel and for someone else's alike. */
async function ownChannel(db: Db, handle: string, userId: string) {
  const row = await channelByHandle(db, handle);
  if (!row || row.ownerId !== userId) throw notFound("channel");
  return row;
}

async function withCount(db: Db, row: typeof channels.$inferSelect) {
  return toChannel(row, (await subscriberCounts(db, [row.id])).get(row.id) ?? 0);
}

/** /v1/channels: one channel per user, subscriptions, and a channel's public videos. */
export const channelRoutes = new OpenAPIHono<AppEnv>()
  .openapi(createChannel, async (c) => {
    const body = c.req.valid("json");
    const { db } = c.var;
    const conflict = async () => {
      const [existing] = await db
        .select({ ownerId: channels.ownerId })
        .from(channels)
        .where(or(eq(channels.ownerId, c.var.userId), eq(channels.handle, body.handle)));
      if (!existing) return null;
      return existing.ownerId === c.var.userId
        ? new HttpError(409, "channel_exists", "you already have a channel")
        : new HttpError(409, "handle_taken", `the handle ${body.handle} is taken`);
    };
    const before = await conflict();
    if (before) throw before;
    const [row] = await db
      .insert(channels)
      .values({
        ownerId: c.var.userId,
        handle: body.handle,
        name: body.name,
        description: body.description ?? null,
      })
      .onConflictDoNothing()
      .returning();
    // Lost a race with another insert: say which constraint it hit.
    if (!row) throw (await conflict()) ?? new HttpError(409, "handle_taken", "the handle is taken");
    return c.json(toChannel(row, 0), 201);
  })
  .openapi(getChannel, async (c) => {
    const { db, callerId } = c.var;
    const row = await channelByHandle(db, c.req.valid("param").handle);
    if (!row) throw notFound("channel");
    const channel = await withCount(db, row);
    if (callerId === null) return c.json(channel, 200);
    return c.json({ ...channel, subscribed: await isSubscribed(db, callerId, row.id) }, 200);
  })
  .openapi(updateChannel, async (c) => {
    const { db } = c.var;
    const current = await ownChannel(db, c.req.valid("param").handle, c.var.userId);
    const body = c.req.valid("json");
    const [row] = await db
      .update(channels)
      .set({
        ...(body.name !== undefined ? { name: body.name } : {}),
        ...(body.description !== undefined ? { description: body.description } : {}),
        updatedAt: sql`now()`,
      })
      .where(and(eq(channels.id, current.id), eq(channels.ownerId, c.var.userId)))
      .returning();
    if (!row) throw notFound("channel");
    return c.json(await withCount(db, row), 200);
  })
  .openapi(deleteChannel, async (c) => {
    const { db } = c.var;
    const current = await ownChannel(db, c.req.valid("param").handle, c.var.userId);
    // Subscriptions go with it (on delete cascade).
    await db.delete(channels).where(and(eq(channels.id, current.id), eq(channels.ownerId, c.var.userId)));
    return c.body(null, 204);
  })
  .openapi(subscribe, async (c) => {
    const { db } = c.var;
    const row = await channelByHandle(db, c.req.valid("param").handle);
    if (!row) throw notFound("channel");
    if (row.ownerId === c.var.userId) {
      throw new HttpError(400, "own_channel", "you cannot subscribe to your own channel");
    }
    await db.insert(subscriptions).values({ channelId: row.id, userId: c.var.userId }).onConflictDoNothing();
    return c.json(await withCount(db, row), 200);
  })
  .openapi(unsubscribe, async (c) => {
    const { db } = c.var;
    const row = await channelByHandle(db, c.req.valid("param").handle);
    if (!row) throw notFound("channel");
    await db
      .delete(subscriptions)
      .where(and(eq(subscriptions.channelId, row.id), eq(subscriptions.userId, c.var.userId)));
    return c.body(null, 204);
  })
  .openapi(channelVideos, async (c) => {
    const { db } = c.var;
    const channel = await channelByHandle(db, c.req.valid("param").handle);
    if (!channel) throw notFound("channel");
    return c.json(await publicVideoPage(c, c.req.valid("query"), eq(videos.ownerId, channel.ownerId)), 200);
  });
