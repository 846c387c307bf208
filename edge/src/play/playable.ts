import type { VideoStatus } from "@streamlet/shared";

/** The row fields that decide whether a video can be played. */
export type PlayableFields = { status: VideoStatus; playableAt: Date | null };

/**
 * Whether a video's HLS output may be served and linked: once it is ready, or while it is still
 * processing once the transcoder said its first segments are stored (playable_at; growing playlists).
 */
export function isPlayable(row: PlayableFields): boolean {
  return row.status === "ready" || (row.status === "processing" && row.playableAt !== null);
}

/** Whether a playable video's playlists may still change (EVENT playlists that grow): not ready yet. */
export function isLive(row: PlayableFields): boolean {
  return row.status !== "ready";
}
