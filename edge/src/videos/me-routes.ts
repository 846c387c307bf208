import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { ListVideosQuery } from "@streamlet/shared";
import { and, desc, eq } from "drizzle-orm";
import { requireUser } from "../auth/require-user.ts";
import { ChannelListSchema } from "../channels/openapi.ts";
import { subscriberCounts, toChannel } from "../channels/serialize.ts";
import { channels, subscriptions, videos } from "../db/schema.ts";
import type { AppEnv } from "../env.ts";
import { errors, json, userSecurity, VideoListSchema } from "../openapi.ts";
import { playbackTokenFor } from "../play/token.ts";
import { afterCursor, pageOf, parseCursorParam } from "./cursor.ts";
import { baseUrlOf, toVideo } from "./serialize.ts";

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

/** /v1/me: the signed-in user's own things. */
export const meRoutes = new OpenAPIHono<AppEnv>()
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
    const list = await Promise.all(
      page.map(async (row) =>
        toVideo(row, baseUrl, c.var.userId, undefined, await playbackTokenFor(row, secret)),
      ),
    );
    return c.json({ videos: list, nextCursor }, 200);
  });
