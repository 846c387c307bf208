/**
 * The watch page's view of the API's shapes: the video as GET /v1/videos/:id answers it (with `viewer` for a
 * signed-in caller) plus `playback.storyboard`, which issue 14 adds: typed loosely here so the storyboard
 * track lights up when the edge starts sending it.
 */
import type { VideoDetail } from "../lib/api-types.ts";

export type { Comment as WatchComment } from "../lib/api-types.ts";

export type ChannelRef = NonNullable<VideoDetail["channel"]>;
export type Reaction = "like" | "dislike";

export type WatchVideo = Omit<VideoDetail, "playback"> & {
  playback: VideoDetail["playback"] & {
    /** A WebVTT thumbnails track (issue 14); absent until the edge makes storyboards. */
    storyboard?: string | null;
  };
};
