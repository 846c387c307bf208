import { type AssetExtension, servableAsset } from "@streamlet/shared";

/** What the delivery route may serve, and how. */
export type PlayAsset = {
  /** Path below the video's output prefix, e.g. "720p/seg_00001.m4s". */
  path: string;
  extension: AssetExtension;
  contentType: string;
  /** Its Cache-Control once the video is ready (growingAsset: while it is processing, a shorter one). */
  cacheControl: string;
};

const IMMUTABLE = "public, max-age=31536000, immutable";

/** The edge's cache policy by file type (which files exist and their content types: shared's layout). */
const CACHE_CONTROL: Record<AssetExtension, string> = {
  // Playlists are the entry point: a short TTL lets a re-publish or takedown reach players within a
  // minute, while still absorbing a burst of viewers at the edge.
  m3u8: "public, max-age=60",
  // Segments and init sections are written once under keys derived from the video id: never changing.
  m4s: IMMUTABLE,
  mp4: IMMUTABLE,
  // The poster may be regenerated (e.g. a chosen thumbnail): an hour, not forever.
  jpg: "public, max-age=3600",
  // Captions change when their owner replaces them (the storyboard's WebVTT never does): a playlist's TTL.
  vtt: "public, max-age=60",
  // The DASH manifest is an entry point like the master playlist (subtitles are added to it when served).
  mpd: "public, max-age=60",
};

/**
 * A playlist of a video still processing: an EVENT playlist that grows with every published segment (or the
 * provisional master): players and the edge cache must fetch it again within a second or two.
 */
export const GROWING_PLAYLIST_CACHE_CONTROL = "public, max-age=1";

/**
 * Whether this asset may still change while its video is live (processing and playable): its playlists do;
 * init sections, segments and the poster are written once and immutable from the start.
 */
export function growingAsset(asset: PlayAsset, live: boolean): boolean {
  return live && asset.extension === "m3u8";
}

/** The asset's Cache-Control given its video's phase (see growingAsset). */
export function cacheControlFor(asset: PlayAsset, live: boolean): string {
  return growingAsset(asset, live) ? GROWING_PLAYLIST_CACHE_CONTROL : asset.cacheControl;
}

/**
 * The raw (still percent-encoded) path after /v1/play/<id>/ as something to serve: shared's allow-list
 * (servableAsset) plus the edge's Cache-Control; null means 404.
 */
export function parseAssetPath(rawPath: string): PlayAsset | null {
  const asset = servableAsset(rawPath);
  if (!asset) return null;
  return {
    path: asset.path,
    extension: asset.extension,
    contentType: asset.contentType,
    cacheControl: CACHE_CONTROL[asset.extension],
  };
}
