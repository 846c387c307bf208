/** Whether a video can be played now and, when not, what the page says instead. */
import type { WatchVideo } from "./types.ts";

export type PlaybackState =
  | { kind: "playable"; src: string; stillProcessing: boolean }
  | { kind: "waiting"; message: string }
  | { kind: "failed"; message: string };

/** Playable as soon as the edge gives an HLS URL (a processing video plays the rungs that exist). */
export function playbackState(
  video: Pick<WatchVideo, "status" | "playback" | "failureReason">,
): PlaybackState {
  if (video.playback.hls) {
    return { kind: "playable", src: video.playback.hls, stillProcessing: video.status !== "ready" };
  }
  switch (video.status) {
    case "failed":
      return {
        kind: "failed",
        message: `Processing failed${video.failureReason ? `: ${video.failureReason}` : ""}.`,
      };
    case "awaiting_upload":
      return { kind: "waiting", message: "This video is waiting for its upload to finish." };
    case "queued":
      return { kind: "waiting", message: "This video is queued for processing." };
    default:
      return { kind: "waiting", message: "This video is being processed: it can be watched shortly." };
  }
}

/** The storyboard (WebVTT thumbnails) URL when the edge sends one; typed loosely until it does. */
export function storyboardOf(video: Pick<WatchVideo, "playback">): string | null {
  const value = (video.playback as { storyboard?: unknown }).storyboard;
  return typeof value === "string" && value ? value : null;
}
