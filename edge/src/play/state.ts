import { z } from "@hono/zod-openapi";
import { Visibility } from "@streamlet/shared";
import { eq, sql } from "drizzle-orm";
import type { Config } from "../config.ts";
import type { Db } from "../db/client.ts";
import { videoCaptions, videos } from "../db/schema.ts";
import { stateCacheKey } from "./cache-key.ts";
import { videoCacheTag } from "./cache-tag.ts";
import { isLive, isPlayable } from "./playable.ts";

/**
 * What delivery needs to know of a playable video: who may play it, the generation its cache keys carry,
 * whether it is live (still processing: its playlists grow, see asset.ts growingAsset), its caption
 * tracks (by language) and its duration (the subtitle playlists span it; null when not known).
 */
export type PlaybackState = {
  visibility: Visibility;
  generation: number;
  live: boolean;
  captions: { language: string; label: string }[];
  durationSeconds: number | null;
};

const Track = z.object({ language: z.string(), label: z.string() });

/**
 * How long a live video's state is cached: it turns ready (and its playlists final) soon, and a stale
 * `live` only keeps its playlists on the short TTL a little longer.
 */
export const LIVE_STATE_TTL_SECONDS = 1;

/**
 * The playback state of a playable video (play/playable.ts: ready, or processing with playable_at), or null
 * (absent, or not playable yet). Read from Postgres and kept in this data centre's cache for
 * PLAYBACK_STATE_TTL_SECONDS once ready, LIVE_STATE_TTL_SECONDS while processing (never when not playable:
 * one that just turned playable plays at once), on the cache origin with the video's Cache-Tag, so a purge
 * drops it with the assets. Every asset
 * request, cached or not, goes through it: a data centre a purge never reached still follows a visibility
 * change or a delete within the TTL, because the cached assets of the old generation are no longer looked up.
 */
export async function playbackState(
  config: Pick<Config, "publicBaseUrl" | "playbackStateTtlSeconds">,
  db: Db,
  videoId: string,
  waitUntil: (promise: Promise<unknown>) => void,
): Promise<PlaybackState | null> {
  const cache = caches.default;
  const key = stateCacheKey(config, videoId);
  const hit = await cache.match(key);
  if (hit) {
    const state = parseState(await hit.text());
    if (state) return state;
  }
  const [row] = await db
    .select({
      status: videos.status,
      playableAt: videos.playableAt,
      visibility: videos.visibility,
      generation: videos.cacheGeneration,
      durationSeconds: videos.durationSeconds,
      // The tracks in the same round trip, sorted by language (the order players list them in).
      captions: sql<unknown>`(select coalesce(json_agg(json_build_object('language', ${videoCaptions.language}, 'label', ${videoCaptions.label}) order by ${videoCaptions.language}), '[]'::json) from ${videoCaptions} where ${videoCaptions.videoId} = ${videos.id})`,
    })
    .from(videos)
    .where(eq(videos.id, videoId))
    .limit(1);
  if (!row || !isPlayable(row)) return null;
  const live = isLive(row);
  const state: PlaybackState = {
    visibility: row.visibility,
    generation: row.generation,
    live,
    captions: z
      .array(Track)
      .parse(typeof row.captions === "string" ? JSON.parse(row.captions) : row.captions),
    durationSeconds: row.durationSeconds,
  };
  const ttl = live ? LIVE_STATE_TTL_SECONDS : config.playbackStateTtlSeconds;
  const headers = {
    "content-type": "application/json",
    "cache-control": `public, max-age=${ttl}`,
    "cache-tag": videoCacheTag(videoId),
  };
  waitUntil(
    cache
      .put(key, new Response(JSON.stringify(state), { headers }))
      .catch((error: unknown) => console.error(`play: caching the state of ${videoId} failed:`, error)),
  );
  return state;
}

const CachedState = z.object({
  visibility: Visibility,
  generation: z.number().int().positive(),
  // Absent from states cached before live delivery existed: those were ready.
  live: z.boolean().default(false),
  // Absent from states cached before captions existed: none then.
  captions: z.array(Track).default([]),
  durationSeconds: z.number().nonnegative().nullable().default(null),
});

/** A cached state's text as a PlaybackState (fields added since default), or null when it is not one. */
export function parseState(text: string): PlaybackState | null {
  try {
    return CachedState.parse(JSON.parse(text));
  } catch {
    return null;
  }
}
