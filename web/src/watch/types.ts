/**
 * The watch page's view of the API's shapes: the video as GET /v1/videos/:id answers it (with `viewer` for a
 * signed-in caller). The page reads only `hls`, `poster` and `storyboard` of `playback`, so the delivery
 * URLs (`dash`, `storyboard`) are optional here: a fixture or an older edge without them still fits.
 */
import type { VideoDetail } from "../lib/api-types.ts";

export type { Comment as WatchComment } from "../lib/api-types.ts";

export type ChannelRef = NonNullable<VideoDetail["channel"]>;
export type Reaction = "like" | "dislike";

type Playback = VideoDetail["playback"];

export type WatchVideo = Omit<VideoDetail, "playback"> & {
  playback: Pick<Playback, "hls" | "poster"> & Partial<Pick<Playback, "dash" | "storyboard">>;
};
