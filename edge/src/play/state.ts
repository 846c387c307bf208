import { z } from "@hono/zod-openapi";
import { Visibility } from "@streamlet/shared";
import { eq } from "drizzle-orm";
import type { Config } from "../config.ts";
import type { Db } from "../db/client.ts";
import { videos } from "../db/schema.ts";
import { stateCacheKey } from "./cache-key.ts";
import { videoCacheTag } from "./cache-tag.ts";
import { isLive, isPlayable } from "./playable.ts";

/**
 * What delivery needs to know of a playable video: who may play it, the generation its cache keys carry,
 * and whether it is live (still processing: its playlists grow, see asset.ts growingAsset).
 */
export type PlaybackState = { visibility: Visibility; generation: number; live: boolean };

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
    })
    .from(videos)
    .where(eq(videos.id, videoId))
    .limit(1);
  if (!row || !isPlayable(row)) return null;
  const live = isLive(row);
  const state: PlaybackState = { visibility: row.visibility, generation: row.generation, live };
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
});

function parseState(text: string): PlaybackState | null {
  try {
    return CachedState.parse(JSON.parse(text));
  } catch {
    return null;
  }
}
