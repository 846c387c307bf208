import { outputPrefix } from "@streamlet/shared";
import type { Config } from "../config.ts";
import { parseAssetPath } from "./asset.ts";
import { assetCacheKey, stateCacheKey } from "./cache-key.ts";
import { videoCacheTag } from "./cache-tag.ts";

/**
 * Drops a video's playback state and its assets of one cache generation from this data centre's edge
 * cache: one entry per asset, all on the one cache origin (cache-key.ts; the key never holds the playback
 * token), derived from the video's stored keys. caches.default is per data centre; purgeEverywhere
 * reaches the others.
 */
export async function purgeCachedAssets(
  config: Pick<Config, "publicBaseUrl">,
  videoId: string,
  generation: number,
  keys: readonly string[],
) {
  const prefix = outputPrefix(videoId);
  const requests = keys
    .filter((key) => key.startsWith(prefix))
    .map((key) => key.slice(prefix.length))
    .filter((path) => parseAssetPath(path) !== null)
    .map((path) => assetCacheKey(config, videoId, generation, path));
  const cache = caches.default;
  await Promise.all([stateCacheKey(config, videoId), ...requests].map((request) => cache.delete(request)));
  return requests.length;
}

/** Waits between tries of the purge API (rate limited or failing): then gives up and logs. */
const PURGE_BACKOFF_MS = [1000, 4000] as const;

export class CachePurgeError extends Error {
  override name = "CachePurgeError";
}

/**
 * Purges every cached asset of a video in every data centre: one call to Cloudflare's purge API by
 * Cache-Tag (assets are stored with it, see play/routes.ts), retried on 429/5xx and network errors.
 * Throws CachePurgeError when it could not; the caller logs it (the local purge already happened).
 */
export async function purgeEverywhere(
  purge: NonNullable<Config["cachePurge"]>,
  videoId: string,
  options: { fetch?: typeof fetch; backoffMs?: readonly number[] } = {},
): Promise<void> {
  const doFetch = options.fetch ?? fetch;
  const backoff = options.backoffMs ?? PURGE_BACKOFF_MS;
  const url = `${purge.apiBase}/zones/${purge.zoneId}/purge_cache`;
  let last = "";
  for (let attempt = 0; attempt <= backoff.length; attempt++) {
    if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, backoff[attempt - 1]));
    let res: Response;
    try {
      res = await doFetch(url, {
        method: "POST",
        headers: { authorization: `Bearer ${purge.token}`, "content-type": "application/json" },
        body: JSON.stringify({ tags: [videoCacheTag(videoId)] }),
      });
    } catch (error) {
      last = `network error: ${error instanceof Error ? error.message : String(error)}`;
      continue;
    }
    const body = (await res.json().catch(() => null)) as { success?: boolean; errors?: unknown } | null;
    if (res.ok && body?.success === true) return;
    last = `HTTP ${res.status}: ${JSON.stringify(body?.errors ?? body).slice(0, 300)}`;
    // Bad token, wrong zone, no permission: trying again will not help.
    if (res.status !== 429 && res.status < 500) break;
  }
  throw new CachePurgeError(`purging the cached copies of video ${videoId} everywhere failed (${last})`);
}

/**
 * A video's cached copies go: here at once, and in every other data centre through the purge API when
 * it is configured. Never throws: failures are logged (the copies then live until their TTL).
 */
export async function purgeVideoCache(
  config: Pick<Config, "cachePurge" | "publicBaseUrl">,
  videoId: string,
  generation: number,
  keys: readonly string[],
): Promise<void> {
  const local = purgeCachedAssets(config, videoId, generation, keys).catch((error: unknown) =>
    console.error(`purging this data centre's cached copies of ${videoId} failed:`, error),
  );
  const global = config.cachePurge
    ? purgeEverywhere(config.cachePurge, videoId).catch((error: unknown) => console.error(String(error)))
    : Promise.resolve();
  await Promise.all([local, global]);
}
