import type { Config } from "../config.ts";

/** The origin of every cache key when PUBLIC_BASE_URL is not set: a name no request can arrive under. */
export const INTERNAL_CACHE_ORIGIN = "https://cache.streamlet.internal";

/**
 * The one origin cached assets are stored under, whatever hostname a request came to: PUBLIC_BASE_URL's
 * origin when set (a name on the zone), else INTERNAL_CACHE_ORIGIN. Keyed by the request's host, a copy
 * cached under a second hostname would outlive a purge that only knew the first.
 */
export function cacheOrigin(config: Pick<Config, "publicBaseUrl">): string {
  return config.publicBaseUrl === null ? INTERNAL_CACHE_ORIGIN : new URL(config.publicBaseUrl).origin;
}

/**
 * The cache key of one asset of a video in one cache generation (play/state.ts): never the token, query,
 * Range or conditional headers. A growing playlist (asset.ts growingAsset: the video is still processing)
 * has keys of its own, so once the video is ready its final playlist is never answered from a copy of
 * the growing one, whatever that copy's TTL.
 */
export function assetCacheKey(
  config: Pick<Config, "publicBaseUrl">,
  videoId: string,
  generation: number,
  path: string,
  growing = false,
): Request {
  const phase = growing ? `g${generation}-live` : `g${generation}`;
  return new Request(`${cacheOrigin(config)}/v1/play/${videoId}/${phase}/${path}`, { method: "GET" });
}

/** The cache key of a video's playback state (play/state.ts); no asset path can name it. */
export function stateCacheKey(config: Pick<Config, "publicBaseUrl">, videoId: string): Request {
  return new Request(`${cacheOrigin(config)}/v1/play/${videoId}/state`, { method: "GET" });
}
