import { and, desc, eq, type SQL, sql } from "drizzle-orm";
import type { Context } from "hono";
import { captionsByVideo } from "../captions/store.ts";
import { channelRefs } from "../channels/refs.ts";
import { searchDocument, videos } from "../db/schema.ts";
import { statsForRead } from "../engagement/stats.ts";
import type { AppEnv } from "../env.ts";
import { afterCursor, pageOf, parseCursorParam } from "./cursor.ts";
import { baseUrlOf, toVideo } from "./serialize.ts";

/**
 * One page of public, ready videos, newest first, with their stats, channels and captions (one query
 * each for the page): the public list, its search (`q`, over titles and descriptions through the GIN
 * index of schema.ts's search document), a channel page (`owners`: one owner's) and a feed (`owners`: the
 * subscribed channels' owners) are the same query, so unlisted and private videos are left out in one place.
 */
export async function publicVideoPage(
  c: Context<AppEnv>,
  query: { limit: number; cursor?: string; q?: string },
  owners?: SQL,
) {
  const cursor = parseCursorParam(query.cursor);
  const rows = await c.var.db
    .select()
    .from(videos)
    .where(
      and(
        owners,
        eq(videos.status, "ready"),
        eq(videos.visibility, "public"),
        afterCursor(videos.createdAt, videos.id, cursor),
        query.q === undefined
          ? undefined
          : sql`${searchDocument(videos.title, videos.description)} @@ websearch_to_tsquery('english', ${query.q})`,
      ),
    )
    .orderBy(desc(videos.createdAt), desc(videos.id))
    .limit(query.limit + 1);
  const { page, nextCursor } = pageOf(rows, query.limit, (row) => row);
  const baseUrl = baseUrlOf(c.var.config.publicBaseUrl, c.req.url);
  const ids = page.map((row) => row.id);
  const [stats, channels, captions] = await Promise.all([
    statsForRead(c, ids),
    channelRefs(
      c.var.db,
      page.map((row) => row.ownerId),
    ),
    captionsByVideo(c.var.db, ids),
  ]);
  return {
    videos: page.map((row) =>
      toVideo(row, {
        baseUrl,
        viewerId: null,
        channel: channels.get(row.ownerId) ?? null,
        captions: captions.get(row.id) ?? [],
        stats: stats.get(row.id),
      }),
    ),
    nextCursor,
  };
}
