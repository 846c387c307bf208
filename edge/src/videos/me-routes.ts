import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { FeedQuery, ListVideosQuery } from "@streamlet/shared";
import { and, desc, eq, inArray } from "drizzle-orm";
import type { Context } from "hono";
import { requireUser } from "../auth/require-user.ts";
import { captionsByVideo } from "../captions/store.ts";
import { ChannelListSchema } from "../channels/openapi.ts";
import { channelRefOf } from "../channels/refs.ts";
import { subscriberCounts, toChannel } from "../channels/serialize.ts";
import { channels, subscriptions, users, videos } from "../db/schema.ts";
import type { AppEnv } from "../env.ts";
import { HttpError } from "../errors.ts";
import { errors, json, MeSchema, userSecurity, VideoListSchema } from "../openapi.ts";
import { playbackTokenFor } from "../play/token.ts";
import { afterCursor, pageOf, parseCursorParam } from "./cursor.ts";
import { publicVideoPage } from "./public-page.ts";
import { baseUrlOf, toVideo } from "./serialize.ts";

const getMe = createRoute({
  method: "get",
  path: "/",
  tags: ["auth"],
  summary: "Who you are: your user (id, email) and your channel (null until you create one)",
  security: userSecurity,
  middleware: [requireUser()] as const,
  responses: {
    200: json(MeSchema, "You and your channel"),
    ...errors({ 401: "Not signed in (or the account no longer exists)" }),
  },
});

const feed = createRoute({
  method: "get",
  path: "/feed",
  tags: ["videos"],
  summary: "Public ready videos of the channels you subscribe to, newest first",
  description:
    "A channel's videos are its owner's videos. Paged like GET /v1/videos (limit, cursor); no search.",
  security: userSecurity,
  middleware: [requireUser()] as const,
  request: { query: FeedQuery },
  responses: {
    200: json(VideoListSchema, "A page of videos"),
    ...errors({ 400: "invalid_request or invalid_cursor", 401: "Not signed in" }),
  },
});

const listMyVideos = createRoute({
  method: "get",
  path: "/videos",
  tags: ["videos"],
  summary: "Your own videos in every status and visibility, newest first",
  security: userSecurity,
  middleware: [requireUser()] as const,
  request: { query: ListVideosQuery },
  responses: {
    200: json(VideoListSchema, "A page of your videos (private ones with signed playback URLs)"),
    ...errors({ 400: "invalid_request or invalid_cursor", 401: "Not signed in" }),
  },
});

const listMySubscriptions = createRoute({
  method: "get",
  path: "/subscriptions",
  tags: ["channels"],
  summary: "The channels you subscribe to, most recently subscribed first",
  security: userSecurity,
  middleware: [requireUser()] as const,
  request: { query: ListVideosQuery },
  responses: {
    200: json(ChannelListSchema, "A page of channels"),
    ...errors({ 400: "invalid_request or invalid_cursor", 401: "Not signed in" }),
  },
});

/** A route context with extra variables (userId), as the helpers typed for AppEnv take it. */
const asApp = (c: Context) => c as unknown as Context<AppEnv>;

/** /v1/me: the signed-in user's own things. */
export const meRoutes = new OpenAPIHono<AppEnv>()
  .openapi(getMe, async (c) => {
    const { db, userId } = c.var;
    const [user] = await db
      .select({ id: users.id, email: users.email })
      .from(users)
      .where(eq(users.id, userId))
      .limit(1);
    // A valid token of an account deleted since: nobody to answer for.
    if (!user) throw new HttpError(401, "unauthorized", "the account no longer exists");
    const [channel] = await db.select().from(channels).where(eq(channels.ownerId, userId)).limit(1);
    if (!channel) return c.json({ user, channel: null }, 200);
    const count = (await subscriberCounts(db, [channel.id])).get(channel.id) ?? 0;
    return c.json({ user, channel: toChannel(channel, count) }, 200);
  })
  .openapi(feed, async (c) => {
    const subscribedOwners = c.var.db
      .select({ ownerId: channels.ownerId })
      .from(subscriptions)
      .innerJoin(channels, eq(channels.id, subscriptions.channelId))
      .where(eq(subscriptions.userId, c.var.userId));
    return c.json(
      await publicVideoPage(asApp(c), c.req.valid("query"), inArray(videos.ownerId, subscribedOwners)),
      200,
    );
  })
  .openapi(listMySubscriptions, async (c) => {
    const { limit, cursor: cursorText } = c.req.valid("query");
    const cursor = parseCursorParam(cursorText);
    const rows = await c.var.db
      .select({ channel: channels, subscribedAt: subscriptions.createdAt })
      .from(subscriptions)
      .innerJoin(channels, eq(channels.id, subscriptions.channelId))
      .where(
        and(
          eq(subscriptions.userId, c.var.userId),
          afterCursor(subscriptions.createdAt, subscriptions.channelId, cursor),
        ),
      )
      .orderBy(desc(subscriptions.createdAt), desc(subscriptions.channelId))
      .limit(limit + 1);
    const { page, nextCursor } = pageOf(rows, limit, (row) => ({
      createdAt: row.subscribedAt,
      id: row.channel.id,
    }));
    const counts = await subscriberCounts(
      c.var.db,
      page.map((row) => row.channel.id),
    );
    return c.json(
      {
        channels: page.map((row) => toChannel(row.channel, counts.get(row.channel.id) ?? 0)),
        nextCursor,
      },
      200,
    );
  })
  .openapi(listMyVideos, async (c) => {
    const { limit, cursor: cursorText } = c.req.valid("query");
    const cursor = parseCursorParam(cursorText);
    const rows = await c.var.db
      .select()
      .from(videos)
      .where(and(eq(videos.ownerId, c.var.userId), afterCursor(videos.createdAt, videos.id, cursor)))
      .orderBy(desc(videos.createdAt), desc(videos.id))
      .limit(limit + 1);
    const { page, nextCursor } = pageOf(rows, limit, (row) => row);
    const baseUrl = baseUrlOf(c.var.config.publicBaseUrl, c.req.url);
    const secret = c.var.config.jwtSecret;
    // Every video here is the caller's: one channel for the page; the page's captions in one query.
    const [channel, captions] = await Promise.all([
      channelRefOf(c.var.db, c.var.userId),
      captionsByVideo(
        c.var.db,
        page.map((row) => row.id),
      ),
    ]);
    const list = await Promise.all(
      page.map(async (row) =>
        toVideo(row, {
          baseUrl,
          viewerId: c.var.userId,
          channel,
          captions: captions.get(row.id) ?? [],
          playbackToken: await playbackTokenFor(row, secret),
        }),
      ),
    );
    return c.json({ videos: list, nextCursor }, 200);
  });
