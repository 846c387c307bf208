/** What the delivery route may serve, and how. */
export type PlayAsset = {
  /** Path below the video's output prefix, e.g. "720p/seg_00001.m4s". */
  path: string;
  contentType: string;
  cacheControl: string;
};

// One optional folder ("720p", "audio") and a file name; letters, digits, "_" and "-" only, so no
// "..", no "%", no empty segment, and no way out of videos/<id>/ (the source lives under sources/).
const ASSET_PATH = /^(?:([A-Za-z0-9_-]{1,64})\/)?([A-Za-z0-9_-]{1,128})\.(m3u8|m4s|mp4|jpg)$/;

const IMMUTABLE = "public, max-age=31536000, immutable";

const BY_EXTENSION = {
  // Playlists are the entry point: a short TTL lets a re-publish or takedown reach players within a
  // minute, while still absorbing a burst of viewers at the edge.
  m3u8: { contentType: "application/vnd.apple.mpegurl", cacheControl: "public, max-age=60" },
  // Segments and init sections are written once under keys derived from the video id: never changing.
  m4s: { contentType: "video/iso.segment", cacheControl: IMMUTABLE },
  mp4: { contentType: "video/mp4", cacheControl: IMMUTABLE },
  // The poster may be regenerated (e.g. a chosen thumbnail): an hour, not forever.
  jpg: { contentType: "image/jpeg", cacheControl: "public, max-age=3600" },
} as const;

/**
 * Validates the raw (still percent-encoded) path after /v1/play/<id>/ against the allow-list;
 * null means 404. Only master.m3u8, <rung>/index.m3u8, <rung>/init.mp4, <rung>/seg_N.m4s,
 * audio/... and poster.jpg shapes can pass.
 */
export function parseAssetPath(rawPath: string): PlayAsset | null {
  const match = ASSET_PATH.exec(rawPath);
  if (!match) return null;
  const extension = match[3] as keyof typeof BY_EXTENSION;
  return { path: rawPath, ...BY_EXTENSION[extension] };
}
