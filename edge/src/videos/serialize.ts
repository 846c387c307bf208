import {
  type Caption,
  type ChannelRef,
  DASH_MANIFEST,
  MASTER_PLAYLIST,
  POSTER,
  type Rendition,
  STORYBOARD_FOLDER,
  STORYBOARD_VTT,
  type Video,
  type VideoStats,
} from "@streamlet/shared";
import { type CaptionTrack, captionPath } from "../captions/store.ts";
import type { VideoRow } from "../db/schema.ts";
import { isPlayable } from "../play/playable.ts";

/** What everybody but the owner reads as a failed video's failureReason. */
export const GENERIC_FAILURE_REASON = "processing failed";

/** Who is asking and what the caller loaded beside the row (one query per page for lists). */
export type VideoView = {
  /** Where absolute URLs point (baseUrlOf). */
  baseUrl: string;
  /** The caller's user id, null when anonymous: the owner sees failure reasons and rendition quality. */
  viewerId: string | null;
  /** The owner's channel (channels/refs.ts), null without one. */
  channel: ChannelRef | null;
  /** The video's caption tracks (captions/store.ts captionsByVideo); none when not given. */
  captions?: readonly CaptionTrack[];
  /** Views, likes, dislikes, comments, when the caller has them. */
  stats?: VideoStats;
  /** A private video's owner: URLs go below `/t/<playbackToken>/` (play/token.ts). */
  playbackToken?: string;
};

/**
 * The API shape of a video row: the HLS URL once it is playable (ready, or processing with its first
 * segments stored), the poster, DASH manifest and storyboard once it is ready (and the transcoder made
 * them); caption URLs below the same play prefix; `downloadable` when the owner allows downloads and the
 * MP4 exists. Only the owner sees why processing failed (ffmpeg's words, file names are nobody else's
 * business, so others get a generic reason) and how close each rendition is to the source.
 */
export function toVideo(row: VideoRow, view: VideoView): Video {
  const { baseUrl, viewerId, playbackToken } = view;
  const ready = row.status === "ready";
  const playable = isPlayable(row);
  const isOwner = viewerId !== null && viewerId === row.ownerId;
  const play = `${baseUrl}/v1/play/${row.id}${playbackToken ? `/t/${playbackToken}` : ""}`;
  return {
    id: row.id,
    title: row.title,
    description: row.description,
    visibility: row.visibility,
    status: row.status,
    failureReason: row.failureReason === null || isOwner ? row.failureReason : GENERIC_FAILURE_REASON,
    durationSeconds: row.durationSeconds,
    sourceWidth: row.sourceWidth,
    sourceHeight: row.sourceHeight,
    renditions: isOwner ? row.renditions : row.renditions.map(withoutQuality),
    playback: {
      hls: playable ? `${play}/${MASTER_PLAYLIST}` : null,
      poster: ready ? `${play}/${POSTER}` : null,
      dash: ready && row.assets?.dash ? `${play}/${DASH_MANIFEST}` : null,
      storyboard: ready && row.assets?.storyboard ? `${play}/${STORYBOARD_FOLDER}/${STORYBOARD_VTT}` : null,
    },
    captions: (view.captions ?? []).map((track) => toCaption(track, play)),
    downloadable: ready && row.assets?.download != null && row.downloadsEnabled,
    downloadsEnabled: row.downloadsEnabled,
    createdAt: row.createdAt.toISOString(),
    readyAt: row.readyAt?.toISOString() ?? null,
    playableAt: row.playableAt?.toISOString() ?? null,
    ...(view.stats ? { stats: view.stats } : {}),
    channel: view.channel,
  };
}

/** A rendition as non-owners see it: the quality measurement is the owner's (it says how it was encoded). */
function withoutQuality({ quality: _quality, ...rendition }: Rendition): Rendition {
  return rendition;
}

/** A caption track with its WebVTT URL below the video's play prefix (signed for a private video's owner). */
function toCaption(track: CaptionTrack, play: string): Caption {
  return {
    language: track.language,
    label: track.label,
    url: `${play}/${captionPath(track.language)}`,
  };
}

/** Where absolute URLs point: PUBLIC_BASE_URL when configured, else the origin the request came to. */
export function baseUrlOf(publicBaseUrl: string | null, requestUrl: string): string {
  return publicBaseUrl ?? new URL(requestUrl).origin;
}
