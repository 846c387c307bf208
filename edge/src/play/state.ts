import { z } from "@hono/zod-openapi";
import { Visibility } from "@streamlet/shared";
import { eq } from "drizzle-orm";
import type { Config } from "../config.ts";
import type { Db } from "../db/client.ts";
import { videos } from "../db/schema.ts";
import { stateCacheKey } from "./cache-key.ts";
import { videoCacheTag } from "./cache-tag.ts";

/** What delivery needs to know of a ready video: who may play it, and the generation its cache keys carry. */
export type PlaybackState = { visibility: Visibility; generation: number };

/**
 * The playback state of a ready video, or null (absent, or not ready). Read from Postgres and kept in this
 * data centre's cache for PLAYBACK_STATE_TTL_SECONDS (ready videos only: one that just turned ready plays at
 * once), on the cache origin with the video's Cache-Tag, so a purge drops it with the assets. Every asset
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
    .select({ status: videos.status, visibility: videos.visibility, generation: videos.cacheGeneration })
    .from(videos)
    .where(eq(videos.id, videoId))
    .limit(1);
  if (row?.status !== "ready") return null;
  const state: PlaybackState = { visibility: row.visibility, generation: row.generation };
  const headers = {
    "content-type": "application/json",
    "cache-control": `public, max-age=${config.playbackStateTtlSeconds}`,
    "cache-tag": videoCacheTag(videoId),
  };
  waitUntil(
    cache
      .put(key, new Response(JSON.stringify(state), { headers }))
      .catch((error: unknown) => console.error(`play: caching the state of ${videoId} failed:`, error)),
  );
  return state;
}

const CachedState = z.object({ visibility: Visibility, generation: z.number().int().positive() });

function parseState(text: string): PlaybackState | null {
  try {
    return CachedState.parse(JSON.parse(text));
  } catch {
    return null;
  }
}
