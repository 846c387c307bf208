import { videoKeys } from "@streamlet/shared";
import { parseAssetPath } from "./asset.ts";

/**
 * Drops a video's assets from this data centre's edge cache: one entry per asset and origin (the cache
 * key never holds the playback token), derived from the video's stored keys. caches.default is per
 * data centre, so copies cached elsewhere live until their TTL (or a zone purge) ends them.
 */
export async function purgeCachedAssets(
  origins: readonly string[],
  videoId: string,
  keys: readonly string[],
) {
  const prefix = videoKeys(videoId).outputPrefix;
  const paths = keys
    .filter((key) => key.startsWith(prefix))
    .map((key) => key.slice(prefix.length))
    .filter((path) => parseAssetPath(path) !== null);
  const cache = caches.default;
  const urls = [...new Set(origins)].flatMap((origin) =>
    paths.map((path) => `${origin}/v1/play/${videoId}/${path}`),
  );
  await Promise.all(urls.map((url) => cache.delete(new Request(url, { method: "GET" }))));
  return urls.length;
}

/** Every stored key of a video: its source and everything under its output prefix. */
export function videoPrefixes(videoId: string): string[] {
  const keys = videoKeys(videoId);
  return [keys.source, keys.outputPrefix];
}
