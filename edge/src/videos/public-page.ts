import { and, desc, eq, type SQL, sql } from "drizzle-orm";
import type { Context } from "hono";
import { channelRefs } from "../channels/refs.ts";
import { searchDocument, videos } from "../db/schema.ts";
import { statsForRead } from "../engagement/stats.ts";
import type { AppEnv } from "../env.ts";
import { afterCursor, pageOf, parseCursorParam } from "./cursor.ts";
import { baseUrlOf, toVideo } from "./serialize.ts";

/**
 * One page of public, ready videos, newest first, with their stats and channels: the public list, its
 * search (`q`, over titles and descriptions through the GIN index of schema.ts's search document), a
 * channel page (`owners`: one owner's) and a feed (`owners`: the subscribed channels' owners) are the same
 * query, so unlisted and private videos are left out in one place.
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
  const stats = await statsForRead(
    c,
    page.map((row) => row.id),
  );
  const channels = await channelRefs(
    c.var.db,
    page.map((row) => row.ownerId),
  );
  return {
    videos: page.map((row) =>
      toVideo(row, channels.get(row.ownerId) ?? null, baseUrl, null, stats.get(row.id)),
    ),
    nextCursor,
  };
}
