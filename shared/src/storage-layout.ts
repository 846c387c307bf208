import { requireCanonicalId as canonical } from "./ids.ts";

/**
 * Where a video's objects live in storage and what they are called: the one description the transcoder's
 * writer, the edge's play route and the delete sweep all use. Every key derives from the video id alone
 * (canonical form), so a retry overwrites rather than duplicates and a delete finds everything.
 */

/** The master playlist, at the top of a video's output prefix. */
export const MASTER_PLAYLIST = "master.m3u8";
/** Each rendition folder's media playlist. */
export const VARIANT_PLAYLIST = "index.m3u8";
/** Each rendition folder's fMP4 init section (EXT-X-MAP). */
export const INIT_SEGMENT = "init.mp4";
/** FFmpeg's pattern for a rendition's media segments (seg_00000.m4s, …). */
export const SEGMENT_PATTERN = "seg_%05d.m4s";
/** Matches a media segment's file name. */
export const SEGMENT_FILE = /^seg_\d+\.m4s$/;
/** The poster image, next to the master playlist. */
export const POSTER = "poster.jpg";
/** The audio-only rendition's folder. */
export const AUDIO_FOLDER = "audio";
/** Each video rung folder's I-frame playlist (EXT-X-I-FRAMES-ONLY, byte ranges into its segments). */
export const IFRAME_PLAYLIST = "iframes.m3u8";
/** The DASH manifest over the same CMAF segments, next to the master playlist. */
export const DASH_MANIFEST = "manifest.mpd";
/** The storyboard's folder: sprite sheets (sprite_N.jpg) and the WebVTT that maps time ranges to regions. */
export const STORYBOARD_FOLDER = "storyboard";
/** The storyboard's WebVTT, inside STORYBOARD_FOLDER. */
export const STORYBOARD_VTT = "storyboard.vtt";
/** A storyboard sprite sheet's file name for its index (1-based), inside STORYBOARD_FOLDER. */
export function spriteName(index: number): string {
  return `sprite_${String(index).padStart(3, "0")}.jpg`;
}
/**
 * Captions and subtitles: the owner's WebVTT per language (subtitles/<language>.vtt, written by the edge);
 * the edge answers subtitles/<language>.m3u8 (a one-segment playlist) from it.
 */
export const SUBTITLES_FOLDER = "subtitles";
/**
 * The progressive MP4 for downloads (moov first), below the output prefix but never served by the play
 * route (downloads have their own signed URL and can be turned off): servableAsset refuses this folder.
 */
export const DOWNLOAD_FOLDER = "download";
export const DOWNLOAD_FILE = "video.mp4";
/** The download's key below the output prefix. */
export const DOWNLOAD_PATH = `${DOWNLOAD_FOLDER}/${DOWNLOAD_FILE}`;

/** A media segment's file name for its index (the same numbering as SEGMENT_PATTERN). */
export function segmentName(index: number): string {
  return `seg_${String(index).padStart(5, "0")}.m4s`;
}

/** Content types by file extension; players and CDNs rely on them for HLS. */
export const CONTENT_TYPES = {
  m3u8: "application/vnd.apple.mpegurl",
  m4s: "video/iso.segment",
  mp4: "video/mp4",
  jpg: "image/jpeg",
  vtt: "text/vtt; charset=utf-8",
  mpd: "application/dash+xml",
} as const;
export type AssetExtension = keyof typeof CONTENT_TYPES;

/** Content-Type for an output file name or path; unknown extensions are opaque bytes. */
export function contentTypeFor(name: string): string {
  const extension = /\.([A-Za-z0-9]+)$/.exec(name)?.[1]?.toLowerCase();
  return extension && extension in CONTENT_TYPES
    ? CONTENT_TYPES[extension as AssetExtension]
    : "application/octet-stream";
}

/** The uploaded source file's key. */
export function sourceKey(videoId: string): string {
  return `sources/${canonical(videoId)}`;
}

/** The prefix (ending in "/") under which master.m3u8, the rendition folders and poster.jpg are written. */
export function outputPrefix(videoId: string): string {
  return `videos/${canonical(videoId)}/`;
}

/** Every prefix that holds a video's objects: what a delete must sweep. */
export function videoPrefixes(videoId: string): string[] {
  return [sourceKey(videoId), outputPrefix(videoId)];
}

/** Storage keys for a video, derived from its id only, so a retry overwrites instead of duplicating. */
export function videoKeys(videoId: string) {
  return { source: sourceKey(videoId), outputPrefix: outputPrefix(videoId) };
}

/** An asset the play route may serve: its path below the output prefix and its content type. */
export type ServableAsset = { path: string; extension: AssetExtension; contentType: string };

// One optional folder ("720p", "audio") and a file name; letters, digits, "_" and "-" only, so no
// "..", no "%", no empty segment, and no way out of videos/<id>/ (the source lives under sources/).
const ASSET_PATH = /^(?:([A-Za-z0-9_-]{1,64})\/)?([A-Za-z0-9_-]{1,128})\.(m3u8|m4s|mp4|jpg|vtt|mpd)$/;

/**
 * Validates a raw (still percent-encoded) path below a video's output prefix against the allow-list;
 * null means it is not something a viewer may fetch. Only master.m3u8, manifest.mpd, <rung>/index.m3u8,
 * <rung>/iframes.m3u8, <rung>/init.mp4, <rung>/seg_N.m4s, audio/…, storyboard/…, subtitles/… and
 * poster.jpg shapes can pass; never the download folder (its own signed URL, see DOWNLOAD_FOLDER).
 */
export function servableAsset(rawPath: string): ServableAsset | null {
  const match = ASSET_PATH.exec(rawPath);
  if (!match || match[1] === DOWNLOAD_FOLDER) return null;
  const extension = match[3] as AssetExtension;
  return { path: rawPath, extension, contentType: CONTENT_TYPES[extension] };
}
