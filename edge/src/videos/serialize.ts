import { type ChannelRef, MASTER_PLAYLIST, POSTER, type Video, type VideoStats } from "@streamlet/shared";
import type { VideoRow } from "../db/schema.ts";
import { isPlayable } from "../play/playable.ts";

/** What everybody but the owner reads as a failed video's failureReason. */
export const GENERIC_FAILURE_REASON = "processing failed";

/**
 * The API shape of a video row; the HLS URL once it is playable (ready, or processing with its first
 * segments stored), the poster once it is ready (it is made last); absolute against `baseUrl` (below
 * `/t/<playbackToken>/` when one is given: a private video's owner); `stats` (views, likes, dislikes,
 * comments) when the caller has them; `channel` is the owner's (channels/refs.ts), null without one. Only the owner (`viewerId`) sees why processing failed; the
 * technical reason (ffmpeg's words, file names) is nobody else's business, so others get a generic one.
 */
export function toVideo(
  row: VideoRow,
  channel: ChannelRef | null,
  baseUrl: string,
  viewerId: string | null,
  stats?: VideoStats,
  playbackToken?: string,
): Video {
  const ready = row.status === "ready";
  const playable = isPlayable(row);
  const play = `${baseUrl}/v1/play/${row.id}${playbackToken ? `/t/${playbackToken}` : ""}`;
  return {
    id: row.id,
    title: row.title,
    description: row.description,
    visibility: row.visibility,
    status: row.status,
    failureReason:
      row.failureReason === null || viewerId === row.ownerId ? row.failureReason : GENERIC_FAILURE_REASON,
    durationSeconds: row.durationSeconds,
    sourceWidth: row.sourceWidth,
    sourceHeight: row.sourceHeight,
    renditions: row.renditions,
    playback: {
      hls: playable ? `${play}/${MASTER_PLAYLIST}` : null,
      poster: ready ? `${play}/${POSTER}` : null,
    },
    createdAt: row.createdAt.toISOString(),
    readyAt: row.readyAt?.toISOString() ?? null,
    playableAt: row.playableAt?.toISOString() ?? null,
    ...(stats ? { stats } : {}),
    channel,
  };
}

/** Where absolute URLs point: PUBLIC_BASE_URL when configured, else the origin the request came to. */
export function baseUrlOf(publicBaseUrl: string | null, requestUrl: string): string {
  return publicBaseUrl ?? new URL(requestUrl).origin;
}
