import { SUBTITLES_FOLDER } from "@streamlet/shared";
import type { CaptionTrack } from "./store.ts";

/**
 * The caption tracks written into what the play route serves: the master playlist's SUBTITLES group,
 * the DASH manifest's text adaptation sets and each language's one-cue-file subtitle playlist. Pure text
 * in, text out (the transcoder's files in storage never list captions: the owner changes them later).
 */

/** The HLS rendition group every variant names for its subtitles. */
export const SUBTITLES_GROUP = "subs";

/** Path (below the video's prefix) of a language's subtitle playlist, which the edge generates. */
export const subtitlePlaylistPath = (language: string) => `${SUBTITLES_FOLDER}/${language}.m3u8`;

/** The language of a generated subtitle playlist's path (`subtitles/<language>.m3u8`), or null. */
export function subtitlePlaylistLanguage(path: string): string | null {
  const match = /^subtitles\/([A-Za-z0-9-]+)\.m3u8$/.exec(path);
  return match?.[1] ?? null;
}

/** The language of a stored caption file's path (`subtitles/<language>.vtt`), or null. */
export function captionFileLanguage(path: string): string | null {
  const match = /^subtitles\/([A-Za-z0-9-]+)\.vtt$/.exec(path);
  return match?.[1] ?? null;
}

/** A quoted-string attribute value (RFC 8216 §4.2: no double quote, CR or LF): labels are checked at upload. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
const quoted = (value: string) => `"${value.replace(/["\u0000-\u001f\u007f]/g, " ")}"`;

/**
 * The master playlist with a SUBTITLES group: one EXT-X-MEDIA per track after the last EXT-X-MEDIA (the
 * audio rendition; before the first variant when there is none), and SUBTITLES="subs" on every
 * EXT-X-STREAM-INF (never on EXT-X-I-FRAME-STREAM-INF: I-frame playlists have no subtitles). Unchanged
 * without tracks.
 */
export function withSubtitleGroup(master: string, tracks: readonly CaptionTrack[]): string {
  if (tracks.length === 0) return master;
  const lines = master.split("\n");
  const media = tracks.map(
    (track) =>
      `#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="${SUBTITLES_GROUP}",NAME=${quoted(track.label)},` +
      `LANGUAGE=${quoted(track.language)},DEFAULT=NO,AUTOSELECT=YES,FORCED=NO,` +
      `URI=${quoted(subtitlePlaylistPath(track.language))}`,
  );
  let lastMedia = -1;
  let firstVariant = -1;
  for (const [index, line] of lines.entries()) {
    if (line.startsWith("#EXT-X-MEDIA:")) lastMedia = index;
    if (firstVariant < 0 && line.startsWith("#EXT-X-STREAM-INF:")) firstVariant = index;
  }
  const out = lines.map((line) =>
    line.startsWith("#EXT-X-STREAM-INF:") && !/[:,]SUBTITLES=/.test(line)
      ? `${line.trimEnd()},SUBTITLES="${SUBTITLES_GROUP}"`
      : line,
  );
  const at = lastMedia >= 0 ? lastMedia + 1 : firstVariant >= 0 ? firstVariant : out.length;
  out.splice(at, 0, ...media);
  return out.join("\n");
}

const escapeXml = (text: string) =>
  text.replace(
    /[<>&'"]/g,
    (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", "'": "&apos;", '"': "&quot;" })[c] ?? c,
  );

/**
 * The DASH manifest with one text AdaptationSet (WebVTT, role subtitle) per track before the end of the
 * (last) Period. Unchanged without tracks or without a Period.
 */
export function withTextAdaptationSets(mpd: string, tracks: readonly CaptionTrack[]): string {
  const end = mpd.lastIndexOf("</Period>");
  if (tracks.length === 0 || end < 0) return mpd;
  const sets = tracks.map((track) => {
    const lang = escapeXml(track.language);
    return (
      `<AdaptationSet contentType="text" mimeType="text/vtt" lang="${lang}">` +
      `<Role schemeIdUri="urn:mpeg:dash:role:2011" value="subtitle"/>` +
      `<Label>${escapeXml(track.label)}</Label>` +
      `<Representation id="sub-${lang}" bandwidth="256">` +
      `<BaseURL>${escapeXml(`${SUBTITLES_FOLDER}/${track.language}.vtt`)}</BaseURL>` +
      "</Representation></AdaptationSet>"
    );
  });
  return `${mpd.slice(0, end)}${sets.join("\n")}\n${mpd.slice(end)}`;
}

/**
 * A language's subtitle playlist: the whole WebVTT file as its one segment, spanning the video
 * (HLS wants subtitles segmented; one segment the length of the video is valid and every player takes it).
 */
export function subtitlePlaylist(language: string, durationSeconds: number): string {
  const duration = Math.max(0.001, Math.round(durationSeconds * 1000) / 1000);
  return [
    "#EXTM3U",
    "#EXT-X-VERSION:7",
    `#EXT-X-TARGETDURATION:${Math.max(1, Math.ceil(duration))}`,
    "#EXT-X-PLAYLIST-TYPE:VOD",
    "#EXT-X-MEDIA-SEQUENCE:0",
    `#EXTINF:${duration},`,
    `${language}.vtt`,
    "#EXT-X-ENDLIST",
    "",
  ].join("\n");
}
