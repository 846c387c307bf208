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
  /**
   * How close this rung is to the source, measured on sampled frames (the source scaled to the rung's
   * size): SSIM (0-1, 1 = identical) and PSNR in dB. Only the owner sees it; absent for videos
   * transcoded before it was measured.
   */
  quality: z
    .object({
      ssim: z.number().min(0).max(1),
      psnr: z.number().nonnegative(),
      /** How many frames were compared. */
      frames: z.number().int().positive(),
    })
    .optional(),
});
export type Rendition = z.infer<typeof Rendition>;

/**
 * A BCP 47 language tag as captions are keyed by ("en", "pt-BR", "zh-Hant"): letters, digits and hyphens,
 * a 2-3 letter primary language first. Kept as given (case matters for the URL, not for the language).
 */
export const CaptionLanguage = z
  .string()
  .regex(/^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8}){0,3}$/, "must be a BCP 47 language tag such as en or pt-BR");
export type CaptionLanguage = z.infer<typeof CaptionLanguage>;

/** A caption or subtitle track of a video (WebVTT). */
export const Caption = z.object({
  language: CaptionLanguage,
  /** What players show in their captions menu, e.g. "English". */
  label: z.string().min(1).max(64),
  /** Absolute URL of the WebVTT file (below the signed prefix for a private video's owner). */
  url: z.string(),
});
export type Caption = z.infer<typeof Caption>;

/**
 * What the transcoder published beside the HLS ladder (the ready event carries it; stored with the video):
 * the storyboard, the DASH manifest and the MP4 for downloads. Absent for videos transcoded before them.
 */
export const DeliveryAssets = z.object({
  storyboard: z
    .object({
      /** Seconds each thumbnail covers. */
      intervalSeconds: z.number().positive(),
      thumbnails: z.number().int().positive(),
      sprites: z.number().int().positive(),
      width: z.number().int().positive(),
      height: z.number().int().positive(),
    })
    .nullable(),
  dash: z.boolean(),
  /** The progressive MP4 (moov first) remuxed from one rung: which, its size. */
  download: z.object({ rendition: z.string(), bytes: z.number().int().positive() }).nullable(),
});
export type DeliveryAssets = z.infer<typeof DeliveryAssets>;

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
    /** Absolute URL of the DASH manifest (the same CMAF segments); null until the video is ready. */
    dash: z.string().nullable(),
    /**
     * Absolute URL of the storyboard's WebVTT (time ranges mapped to `sprite_N.jpg#xywh=x,y,w,h` regions,
     * relative to it); null until the video is ready.
     */
    storyboard: z.string().nullable(),
  }),
  /** Captions and subtitles by language (the HLS SUBTITLES group and the DASH text adaptation sets). */
  captions: z.array(Caption),
  /**
   * Whether GET /v1/videos/:id/download offers the MP4: the owner's setting (on by default) and the file
   * exists (the video is ready and was transcoded with downloads).
   */
  downloadable: z.boolean(),
  /** The owner's setting (PATCH /v1/videos/:id `downloadsEnabled`): viewers may download; on by default. */
  downloadsEnabled: z.boolean(),
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
