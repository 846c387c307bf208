import { z } from "zod";
import { ChannelRef } from "./channel.ts";
import { ReactionValue, VideoStats } from "./engagement.ts";

export const VideoStatus = z.enum(["awaiting_upload", "queued", "processing", "ready", "failed"]);
export type VideoStatus = z.infer<typeof VideoStatus>;

/**
 * Who may see a video: public (listed, readable by anyone), unlisted (readable by anyone with its id,
 * never listed), private (the owner only; everyone else gets 404).
 */
export const Visibility = z.enum(["public", "unlisted", "private"]);
export type Visibility = z.infer<typeof Visibility>;

/** A rendition as measured after transcoding; it feeds both the API and the master playlist. */
export const Rendition = z.object({
  /** Folder name under the video's HLS prefix, e.g. "720p". */
  name: z.string().regex(/^[a-z0-9_-]{1,32}$/),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  /** Peak segment bitrate in bits per second, video plus audio. */
  bandwidth: z.number().int().positive(),
  /** Average bitrate in bits per second, video plus audio. */
  averageBandwidth: z.number().int().positive(),
  /** RFC 6381 codecs string, e.g. "avc1.64002a,mp4a.40.2". */
  codecs: z.string().min(1),
  frameRate: z.number().positive(),
});
export type Rendition = z.infer<typeof Rendition>;

export const Video = z.object({
  id: z.string(),
  title: z.string(),
  description: z.string().nullable(),
  visibility: Visibility.default("public"),
  status: VideoStatus,
  failureReason: z.string().nullable(),
  durationSeconds: z.number().nullable(),
  sourceWidth: z.number().int().nullable(),
  sourceHeight: z.number().int().nullable(),
  renditions: z.array(Rendition),
  playback: z.object({
    /**
     * Absolute URL of the master playlist; null until the video is playable (playableAt): while it is
     * still processing, its playlists are EVENT playlists that grow until it is ready.
     */
    hls: z.string().nullable(),
    /** Absolute URL of the poster image; null until the video is ready. */
    poster: z.string().nullable(),
  }),
  createdAt: z.string(),
  readyAt: z.string().nullable(),
  /** When the video could first be watched (ISO 8601): set while it is processing, or when it turned ready. */
  playableAt: z.string().nullable(),
  /** Views, likes, dislikes and comments; absent when the engagement store could not be read. */
  stats: VideoStats.optional(),
  /** The owner's channel (a user has at most one); null when the owner has none. */
  channel: ChannelRef.nullable(),
});
export type Video = z.infer<typeof Video>;

/** What the signed-in caller has to do with a video (GET /v1/videos/:id with an access token). */
export const VideoViewer = z.object({
  /** The caller owns the video. */
  isOwner: z.boolean(),
  /** The caller's reaction to the video. */
  reaction: ReactionValue.nullable(),
  /** The caller subscribes to the video's channel; false when the video has no channel. */
  subscribed: z.boolean(),
});
export type VideoViewer = z.infer<typeof VideoViewer>;

/** GET /v1/videos/:id: the video, plus `viewer` when the request carries a valid access token (absent otherwise). */
export const VideoDetail = Video.extend({ viewer: VideoViewer.optional() });
export type VideoDetail = z.infer<typeof VideoDetail>;
