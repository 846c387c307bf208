import { outputPrefix, SUBTITLES_FOLDER } from "@streamlet/shared";
import { and, asc, eq, inArray, sql } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { videoCaptions, videos } from "../db/schema.ts";

/** A video's caption track as the API and delivery know it (the URL is built per caller). */
export type CaptionTrack = { language: string; label: string };

/** Path of a language's WebVTT below the video's output prefix (what the play route serves). */
export const captionPath = (language: string) => `${SUBTITLES_FOLDER}/${language}.vtt`;

/** Storage key of a video's WebVTT for one (canonical) language. */
export const captionKey = (videoId: string, language: string) =>
  `${outputPrefix(videoId)}${captionPath(language)}`;

/**
 * The caption tracks of many videos at once (one query), each list sorted by language; videos without
 * captions are absent from the map. For serializing lists of videos without one query per video.
 */
export async function captionsByVideo(
  db: Db,
  videoIds: readonly string[],
): Promise<Map<string, { language: string; label: string }[]>> {
  const out = new Map<string, { language: string; label: string }[]>();
  if (videoIds.length === 0) return out;
  const rows = await db
    .select({ videoId: videoCaptions.videoId, language: videoCaptions.language, label: videoCaptions.label })
    .from(videoCaptions)
    .where(inArray(videoCaptions.videoId, [...videoIds]))
    .orderBy(asc(videoCaptions.videoId), asc(videoCaptions.language));
  for (const row of rows) {
    const list = out.get(row.videoId) ?? [];
    list.push({ language: row.language, label: row.label });
    out.set(row.videoId, list);
  }
  return out;
}

/** Inserts or replaces a track's row; `created` tells which (201 or 200). */
export async function upsertCaption(
  db: Db,
  videoId: string,
  track: CaptionTrack & { bytes: number },
): Promise<{ created: boolean }> {
  const [row] = await db
    .insert(videoCaptions)
    .values({ videoId, ...track })
    .onConflictDoUpdate({
      target: [videoCaptions.videoId, videoCaptions.language],
      set: { label: track.label, bytes: track.bytes, updatedAt: sql`now()` },
    })
    // xmax is 0 only for a row this statement inserted (an update leaves its own transaction id there).
    .returning({ created: sql<boolean>`(xmax = 0)` });
  return { created: row?.created === true };
}

/** Deletes a track's row; false when there was none. */
export async function deleteCaption(db: Db, videoId: string, language: string): Promise<boolean> {
  const rows = await db
    .delete(videoCaptions)
    .where(and(eq(videoCaptions.videoId, videoId), eq(videoCaptions.language, language)))
    .returning({ language: videoCaptions.language });
  return rows.length > 0;
}

/**
 * Starts a new cache generation for the video (delivery's cache keys carry it): the master playlist and
 * DASH manifest, which list the tracks, are then built afresh. Returns the previous generation, whose
 * cached copies are to be purged; null when the video is gone.
 */
export async function bumpCacheGeneration(db: Db, videoId: string): Promise<number | null> {
  const [row] = await db
    .update(videos)
    .set({ cacheGeneration: sql`${videos.cacheGeneration} + 1` })
    .where(eq(videos.id, videoId))
    .returning({ generation: videos.cacheGeneration });
  return row ? row.generation - 1 : null;
}
