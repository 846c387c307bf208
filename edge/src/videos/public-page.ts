import { and, desc, eq, sql } from "drizzle-orm";
import type { Context } from "hono";
import { searchDocument, videos } from "../db/schema.ts";
import { statsForRead } from "../engagement/stats.ts";
import type { AppEnv } from "../env.ts";
import { afterCursor, pageOf, parseCursorParam } from "./cursor.ts";
import { baseUrlOf, toVideo } from "./serialize.ts";

/**
 * One page of public, ready videos, newest first, with their stats: the public list, its search (`q`, over
 * titles and descriptions through the GIN index of schema.ts's search document) and a channel page (one
 * owner's) are the same query, so unlisted and private videos are left out in one place.
 */
export async function publicVideoPage(
  c: Context<AppEnv>,
  query: { limit: number; cursor?: string; q?: string },
  ownerId?: string,
) {
  const cursor = parseCursorParam(query.cursor);
  const rows = await c.var.db
    .select()
    .from(videos)
    .where(
      and(
        ownerId === undefined ? undefined : eq(videos.ownerId, ownerId),
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
  return { videos: page.map((row) => toVideo(row, baseUrl, null, stats.get(row.id))), nextCursor };
}
