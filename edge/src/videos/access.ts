import { and, eq } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { type VideoRow, videos } from "../db/schema.ts";
import { notFound } from "../errors.ts";

/**
 * Who may see a video. Ids here are canonical already (route params go through ids.ts; stored ids come
 * out of Postgres in canonical form).
 */

/**
 * Whether the caller (a user id, or null when anonymous) may see the video and take part in it (react,
 * view, comment, read comments): public and unlisted videos are readable by anyone with the id, private
 * ones by their owner only. Every engagement route and GET /v1/videos/:id ask through this one function.
 */
export function canRead(video: Pick<VideoRow, "visibility" | "ownerId">, userId: string | null): boolean {
  return video.visibility !== "private" || (userId !== null && video.ownerId === userId);
}

/**
 * The ready video the caller may read, or a 404 worded the same for a missing video, one not ready yet
 * and one the caller may not read.
 */
export async function readableVideo(db: Db, id: string, userId: string | null): Promise<VideoRow> {
  const row = await videoById(db, id);
  if (row?.status !== "ready" || !canRead(row, userId)) throw notFound();
  return row;
}

/** The video row by id, or null (no readiness or visibility check: for owners acting on their video). */
export async function videoById(db: Db, id: string): Promise<VideoRow | null> {
  const [row] = await db.select().from(videos).where(eq(videos.id, id)).limit(1);
  return row ?? null;
}

/** The user's own video, or 404 (the same answer whether it is missing or someone else's). */
export async function ownedVideo(db: Db, id: string, userId: string): Promise<VideoRow> {
  const [row] = await db
    .select()
    .from(videos)
    .where(and(eq(videos.id, id), eq(videos.ownerId, userId)))
    .limit(1);
  if (!row) throw notFound();
  return row;
}
