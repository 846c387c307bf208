import { type DeliveryAssets, type Rendition, VideoStatus, Visibility } from "@streamlet/shared";
import { type SQL, sql } from "drizzle-orm";
import {
  type AnyPgColumn,
  bigint,
  boolean,
  check,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uuid,
} from "drizzle-orm/pg-core";

// Millisecond precision: JS Dates round-trip exactly, which keyset cursors over created_at rely on.
const timestamptz = (name: string) => timestamp(name, { withTimezone: true, precision: 3 });

export const users = pgTable(
  "users",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    email: text("email").notNull().unique("users_email_unique"),
    passwordHash: text("password_hash").notNull(),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
  },
  (t) => [check("users_email_lower_case", sql`${t.email} = lower(${t.email})`)],
);

export const refreshTokens = pgTable(
  "refresh_tokens",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    /** Hex SHA-256 of the token; the token itself is never stored. */
    tokenHash: text("token_hash").notNull().unique("refresh_tokens_token_hash_unique"),
    /**
     * One login = one family; rotation keeps the family, so reuse of a rotated token can revoke
     * every token descended from the same login.
     */
    familyId: uuid("family_id").notNull().defaultRandom(),
    /** The token that replaced this one on rotation; null while it is the current one. */
    replacedById: uuid("replaced_by_id"),
    expiresAt: timestamptz("expires_at").notNull(),
    revokedAt: timestamptz("revoked_at"),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
  },
  (t) => [
    index("refresh_tokens_user_id_idx").on(t.userId),
    index("refresh_tokens_family_id_idx").on(t.familyId),
  ],
);

/**
 * What search matches a video on (GET /v1/videos?q=): its title, weighted above its description, English
 * stemming. The index and the query use this one expression, so the planner can use the index.
 */
export function searchDocument(title: AnyPgColumn | SQL, description: AnyPgColumn | SQL): SQL {
  return sql`(setweight(to_tsvector('english', ${title}), 'A') || setweight(to_tsvector('english', coalesce(${description}, '')), 'B'))`;
}

const statusList = sql.raw(VideoStatus.options.map((status) => `'${status}'`).join(", "));
const visibilityList = sql.raw(Visibility.options.map((visibility) => `'${visibility}'`).join(", "));

export const videos = pgTable(
  "videos",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    ownerId: uuid("owner_id")
      .notNull()
      .references(() => users.id),
    title: text("title").notNull(),
    description: text("description"),
    visibility: text("visibility", { enum: Visibility.options as [Visibility, ...Visibility[]] })
      .notNull()
      .default("public"),
    status: text("status", { enum: VideoStatus.options as [VideoStatus, ...VideoStatus[]] })
      .notNull()
      .default("awaiting_upload"),
    failureReason: text("failure_reason"),
    durationSeconds: doublePrecision("duration_seconds"),
    sourceWidth: integer("source_width"),
    sourceHeight: integer("source_height"),
    sourceBytes: bigint("source_bytes", { mode: "number" }),
    // The source as the owner declared it (POST /v1/videos): its exact size (upload URLs are signed for it,
    // the storage quota counts it until the upload is confirmed), media type and file name.
    uploadBytes: bigint("upload_bytes", { mode: "number" }),
    sourceContentType: text("source_content_type"),
    sourceFileName: text("source_file_name"),
    // A multipart upload in progress: S3's upload id (cleared once it is completed or aborted) and the part
    // size; null for a single PUT.
    uploadId: text("upload_id"),
    uploadPartBytes: integer("upload_part_bytes"),
    // Where a node imports the source from (POST /v1/videos with source.url); null for uploads.
    sourceUrl: text("source_url"),
    // Which run of the transcode this is: 1, then one more per POST /v1/videos/:id/retry (job ids carry it).
    transcodeRun: integer("transcode_run").notNull().default(1),
    renditions: jsonb("renditions").$type<Rendition[]>().notNull().default([]),
    // What the transcoder published beside the ladder (storyboard, DASH, download MP4); null before ready or
    // for videos transcoded before these existed.
    assets: jsonb("assets").$type<DeliveryAssets>(),
    // The owner's setting: viewers may download the MP4 (GET /v1/videos/:id/download).
    downloadsEnabled: boolean("downloads_enabled").notNull().default(true),
    // Part of every edge-cache key of the video's assets (play/state.ts): raised when the visibility
    // changes, so copies cached under the old one are never looked up again, in any data centre.
    cacheGeneration: integer("cache_generation").notNull().default(1),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    updatedAt: timestamptz("updated_at").notNull().defaultNow(),
    readyAt: timestamptz("ready_at"),
    // When the transcoder's `playable` event arrived (or, for a video that never sent one, when it turned
    // ready): from then on a processing video is served from its growing playlists (play/playable.ts).
    playableAt: timestamptz("playable_at"),
  },
  (t) => [
    check("videos_status_valid", sql`${t.status} in (${statusList})`),
    check("videos_visibility_valid", sql`${t.visibility} in (${visibilityList})`),
    // An owner's videos (GET /v1/me/videos, channel pages), newest first, keyset-paginated on (created_at, id).
    index("videos_owner_created_idx").on(t.ownerId, t.createdAt.desc(), t.id.desc()),
    // The cleanup (Cron Trigger): videos whose source never arrived, idle longest first (updated_at moves
    // with every part URL or resume asked for).
    index("videos_awaiting_upload_idx").on(t.updatedAt).where(sql`${t.status} = 'awaiting_upload'`),
    // Search over the public list (GET /v1/videos?q=): a GIN index of the search document.
    index("videos_search_idx")
      .using("gin", searchDocument(t.title, t.description))
      .where(sql`${t.status} = 'ready' and ${t.visibility} = 'public'`),
    // The public list: public ready videos, newest first, keyset-paginated on (created_at, id).
    index("videos_ready_list_idx")
      .on(t.createdAt.desc(), t.id.desc())
      .where(sql`${t.status} = 'ready' and ${t.visibility} = 'public'`),
  ],
);

/**
 * Captions and subtitles of a video, one WebVTT per language (stored at videos/<id>/subtitles/<language>.vtt);
 * the edge lists them in the master playlist's SUBTITLES group and the DASH manifest when it serves them.
 */
export const videoCaptions = pgTable(
  "video_captions",
  {
    videoId: uuid("video_id")
      .notNull()
      .references(() => videos.id, { onDelete: "cascade" }),
    language: text("language").notNull(),
    label: text("label").notNull(),
    /** Size of the stored WebVTT in bytes. */
    bytes: integer("bytes").notNull(),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    updatedAt: timestamptz("updated_at").notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.videoId, t.language] })],
);
export type VideoCaptionRow = typeof videoCaptions.$inferSelect;

/**
 * Source keys of removed videos that upload URLs handed out before the removal could still fill (a PUT
 * URL lives an hour): the scheduled cleanup deletes whatever appears there until `sweep_until`, so no
 * source outlives its video unaccounted. No foreign key: the video is gone.
 */
export const sourceSweeps = pgTable("source_sweeps", {
  videoId: uuid("video_id").primaryKey(),
  sweepUntil: timestamptz("sweep_until").notNull(),
});

export type UserRow = typeof users.$inferSelect;
export type VideoRow = typeof videos.$inferSelect;

/** One channel per user (owner_id unique); its handle is its address, unique and lower case. */
export const channels = pgTable(
  "channels",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    ownerId: uuid("owner_id")
      .notNull()
      .unique("channels_owner_id_unique")
      .references(() => users.id, { onDelete: "cascade" }),
    handle: text("handle").notNull().unique("channels_handle_unique"),
    name: text("name").notNull(),
    description: text("description"),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    updatedAt: timestamptz("updated_at").notNull().defaultNow(),
  },
  (t) => [check("channels_handle_valid", sql`${t.handle} ~ '^[a-z0-9_]{3,30}$'`)],
);

/** A user's subscription to a channel; gone with either. */
export const subscriptions = pgTable(
  "subscriptions",
  {
    channelId: uuid("channel_id")
      .notNull()
      .references(() => channels.id, { onDelete: "cascade" }),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
  },
  (t) => [
    // Channel first: counting a channel's subscribers reads one index range.
    primaryKey({ name: "subscriptions_pkey", columns: [t.channelId, t.userId] }),
    // A user's subscriptions, newest first, keyset-paginated on (created_at, channel_id).
    index("subscriptions_user_created_idx").on(t.userId, t.createdAt.desc(), t.channelId.desc()),
  ],
);

export type ChannelRow = typeof channels.$inferSelect;

// Engagement (the default EngagementStore; edge/src/engagement/postgres-store.ts). Rows go with their video
// or user (on delete cascade).

/** One reaction per user and video; switching rewrites `value`, undoing deletes the row. */
export const reactions = pgTable(
  "reactions",
  {
    videoId: uuid("video_id")
      .notNull()
      .references(() => videos.id, { onDelete: "cascade" }),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    value: text("value", { enum: ["like", "dislike"] }).notNull(),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    updatedAt: timestamptz("updated_at").notNull().defaultNow(),
  },
  (t) => [
    // The unique user+video pair; video first, so counting a video's reactions reads one index range.
    primaryKey({ name: "reactions_pkey", columns: [t.videoId, t.userId] }),
    check("reactions_value_valid", sql`${t.value} in ('like', 'dislike')`),
  ],
);

/** Views per video, incremented in batches by each video's ViewCounter Durable Object. */
export const videoViewCounts = pgTable("video_view_counts", {
  videoId: uuid("video_id")
    .primaryKey()
    .references(() => videos.id, { onDelete: "cascade" }),
  views: bigint("views", { mode: "number" }).notNull().default(0),
  updatedAt: timestamptz("updated_at").notNull().defaultNow(),
});

/** Comments and their replies (one level: a reply's parent is always a top-level comment). */
export const comments = pgTable(
  "comments",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    videoId: uuid("video_id")
      .notNull()
      .references(() => videos.id, { onDelete: "cascade" }),
    authorId: uuid("author_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    /** Deleting a comment deletes its replies with it. */
    parentId: uuid("parent_id").references((): AnyPgColumn => comments.id, { onDelete: "cascade" }),
    body: text("body").notNull(),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
  },
  (t) => [
    check("comments_body_length", sql`char_length(${t.body}) between 1 and 2000`),
    // A video's comments, newest first, keyset-paginated on (created_at, id); also counts them.
    index("comments_video_created_idx").on(t.videoId, t.createdAt.desc(), t.id.desc()),
    // A comment's replies, newest first; also counts them.
    index("comments_parent_created_idx")
      .on(t.parentId, t.createdAt.desc(), t.id.desc())
      .where(sql`${t.parentId} is not null`),
  ],
);

export type ReactionRow = typeof reactions.$inferSelect;
export type CommentRow = typeof comments.$inferSelect;
