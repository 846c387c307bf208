import type { Caption } from "@streamlet/shared";
import { type CaptionTrack, captionPath } from "./store.ts";

/**
 * The API shape of a caption track: its WebVTT's absolute play URL, below `/t/<playbackToken>/` when one
 * is given (a private video's owner, as videos/serialize.ts builds the HLS URL).
 */
export function captionJson(
  track: CaptionTrack,
  videoId: string,
  baseUrl: string,
  playbackToken?: string,
): Caption {
  const play = `${baseUrl}/v1/play/${videoId}${playbackToken ? `/t/${playbackToken}` : ""}`;
  return { language: track.language, label: track.label, url: `${play}/${captionPath(track.language)}` };
}
