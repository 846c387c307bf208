import { z } from "zod";
import { Channel } from "./channel.ts";
import { multiLineText, singleLineText } from "./text.ts";
import { Video, Visibility } from "./video.ts";

export const Email = z
  .string()
  .trim()
  .toLowerCase()
  .max(254)
  .pipe(z.email({ message: "must be a valid email address" }));

export const Password = z
  .string()
  .min(10, { message: "must be at least 10 characters" })
  .max(256, { message: "must be at most 256 characters" });

export const SignupBody = z.object({ email: Email, password: Password }).strict();
export type SignupBody = z.infer<typeof SignupBody>;

export const LoginBody = z.object({ email: Email, password: z.string().min(1).max(256) }).strict();
export type LoginBody = z.infer<typeof LoginBody>;

/** A signed-in user as they see themselves (their own email; nobody else's is ever answered). */
export const AccountUser = z.object({ id: z.string(), email: z.string() });
export type AccountUser = z.infer<typeof AccountUser>;

export const AuthTokens = z.object({
  user: AccountUser,
  accessToken: z.string(),
  /** Seconds until the access token expires. */
  expiresIn: z.number().int(),
  refreshToken: z.string(),
});
export type AuthTokens = z.infer<typeof AuthTokens>;

/** S3's smallest part (every part of a multipart upload but the last) and its most parts per upload. */
export const MIN_PART_BYTES = 5 * 1024 * 1024;
export const MAX_PARTS = 10_000;
/** Most part URLs one POST /v1/videos/:id/upload/parts hands out. */
export const MAX_PART_URLS_PER_REQUEST = 100;

/** The file a client is about to upload: its exact size in bytes (the URLs are signed for it). */
export const SourceUpload = z
  .object({
    size: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
    /** The file's media type as the client knows it (e.g. video/mp4); stored with the source. */
    contentType: z
      .string()
      .max(255)
      .regex(/^[\w.+-]+\/[\w.+-]+$/, { message: "must be a media type such as video/mp4" })
      .optional(),
    /** The file's name on the client's disk, for the owner's reference. */
    fileName: singleLineText(255).optional(),
  })
  .strict();
export type SourceUpload = z.infer<typeof SourceUpload>;

/** A source a transcoder node downloads from the web (http or https; private addresses refused). */
export const SourceImport = z
  .object({
    url: z
      .url({ protocol: /^https?$/, message: "must be an http or https URL" })
      .max(2048, { message: "must be at most 2048 characters" }),
  })
  .strict();
export type SourceImport = z.infer<typeof SourceImport>;

/**
 * POST /v1/videos: the metadata plus where the source comes from: `upload` (the client uploads the file
 * it describes) or `source` (a node imports it from a URL). Exactly one of them.
 */
export const CreateVideoBody = z
  .object({
    title: singleLineText(200),
    description: multiLineText(5000).optional(),
    visibility: Visibility.optional(),
    upload: SourceUpload.optional(),
    source: SourceImport.optional(),
  })
  .strict()
  .refine((body) => (body.upload === undefined) !== (body.source === undefined), {
    message: "give exactly one of upload ({ size }) and source ({ url })",
  });
export type CreateVideoBody = z.infer<typeof CreateVideoBody>;

/** PATCH /v1/videos/:id: any of title, description (null clears it) and visibility; at least one. */
export const UpdateVideoBody = z
  .object({
    title: singleLineText(200).optional(),
    description: multiLineText(5000).nullable().optional(),
    visibility: Visibility.optional(),
    /** Viewers may download the MP4 (GET /v1/videos/:id/download); on by default. */
    downloadsEnabled: z.boolean().optional(),
  })
  .strict()
  .refine((body) => Object.values(body).some((value) => value !== undefined), {
    message: "give at least one of title, description, visibility, downloadsEnabled",
  });
export type UpdateVideoBody = z.infer<typeof UpdateVideoBody>;

/** GET /v1/videos/:id/download: where to download the MP4 (a short-lived edge URL, an attachment). */
export const DownloadTicket = z.object({
  /** Absolute URL of the MP4 on the edge, valid until expiresAt. */
  url: z.string(),
  expiresAt: z.string(),
  /** Size of the MP4 in bytes. */
  bytes: z.number().int(),
  /** The name it is saved under: the title, made safe for file systems, with ".mp4". */
  fileName: z.string(),
});
export type DownloadTicket = z.infer<typeof DownloadTicket>;

/** A presigned PUT of the whole file (small files): signed for exactly `size` bytes. */
export const SingleUploadTicket = z.object({
  kind: z.literal("single"),
  url: z.string(),
  method: z.literal("PUT"),
  /** Headers the client must send with the PUT, exactly as given. */
  headers: z.record(z.string(), z.string()),
  expiresAt: z.string(),
  size: z.number().int(),
});
export type SingleUploadTicket = z.infer<typeof SingleUploadTicket>;

/**
 * A multipart upload (large files): part n holds bytes [(n-1)·partSize, n·partSize) of the file, the last
 * one the rest; ask for part URLs in batches (POST /v1/videos/:id/upload/parts), PUT the parts in any
 * order and in parallel, then confirm with POST /v1/videos/:id/uploaded.
 */
export const MultipartUploadTicket = z.object({
  kind: z.literal("multipart"),
  size: z.number().int(),
  partSize: z.number().int(),
  partCount: z.number().int(),
});
export type MultipartUploadTicket = z.infer<typeof MultipartUploadTicket>;

export const UploadTicket = z.discriminatedUnion("kind", [SingleUploadTicket, MultipartUploadTicket]);
export type UploadTicket = z.infer<typeof UploadTicket>;

/** The upload to make; null when the video is imported from a URL. */
export const CreateVideoResponse = z.object({ video: Video, upload: UploadTicket.nullable() });
export type CreateVideoResponse = z.infer<typeof CreateVideoResponse>;

export const PartUrlsBody = z
  .object({
    partNumbers: z
      .array(z.number().int().min(1).max(MAX_PARTS))
      .min(1)
      .max(MAX_PART_URLS_PER_REQUEST, {
        message: `must list at most ${MAX_PART_URLS_PER_REQUEST} parts`,
      }),
  })
  .strict();
export type PartUrlsBody = z.infer<typeof PartUrlsBody>;

/** Presigned PUTs of parts, each signed for its exact size. */
export const PartUrls = z.object({
  parts: z.array(z.object({ partNumber: z.number().int(), size: z.number().int(), url: z.string() })),
  expiresAt: z.string(),
});
export type PartUrls = z.infer<typeof PartUrls>;

/** What storage holds of an upload in progress (GET /v1/videos/:id/upload): resume from here. */
export const UploadState = z.object({
  ticket: UploadTicket,
  /** Parts storage holds (multipart), in part order; empty for a single PUT. */
  parts: z.array(z.object({ partNumber: z.number().int(), size: z.number().int(), etag: z.string() })),
  uploadedBytes: z.number().int(),
  /** Every byte is there: confirm with POST /v1/videos/:id/uploaded. */
  complete: z.boolean(),
});
export type UploadState = z.infer<typeof UploadState>;

export const VideoList = z.object({
  videos: z.array(Video),
  /** Pass as `cursor` to get the next page; null on the last page. */
  nextCursor: z.string().nullable(),
});
export type VideoList = z.infer<typeof VideoList>;

export const ListVideosQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(200).optional(),
  /**
   * Search words over titles and descriptions (web search syntax: "quoted phrases", -excluded, or);
   * English stemming, so "running" finds "run". Results stay newest first.
   */
  q: singleLineText(200).optional(),
});

/** GET /v1/me/feed: the same paging as GET /v1/videos, without search. */
export const FeedQuery = ListVideosQuery.pick({ limit: true, cursor: true });

/** GET /v1/me: who the caller is and their channel (null until they create one). */
export const Me = z.object({ user: AccountUser, channel: Channel.nullable() });
export type Me = z.infer<typeof Me>;
