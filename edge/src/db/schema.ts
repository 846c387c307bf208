import { type Rendition, VideoStatus } from "@streamlet/shared";
import { sql } from "drizzle-orm";
import {
  bigint,
  check,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
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

const statusList = sql.raw(VideoStatus.options.map((status) => `'${status}'`).join(", "));

export const videos = pgTable(
  "videos",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    ownerId: uuid("owner_id")
      .notNull()
      .references(() => users.id),
    title: text("title").notNull(),
    description: text("description"),
    status: text("status", { enum: VideoStatus.options as [VideoStatus, ...VideoStatus[]] })
      .notNull()
      .default("awaiting_upload"),
    failureReason: text("failure_reason"),
    durationSeconds: doublePrecision("duration_seconds"),
    sourceWidth: integer("source_width"),
    sourceHeight: integer("source_height"),
    sourceBytes: bigint("source_bytes", { mode: "number" }),
    renditions: jsonb("renditions").$type<Rendition[]>().notNull().default([]),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    updatedAt: timestamptz("updated_at").notNull().defaultNow(),
    readyAt: timestamptz("ready_at"),
  },
  (t) => [
    check("videos_status_valid", sql`${t.status} in (${statusList})`),
    index("videos_owner_id_idx").on(t.ownerId),
    // The public list: ready videos, newest first, keyset-paginated on (created_at, id).
    index("videos_ready_list_idx").on(t.createdAt.desc(), t.id.desc()).where(sql`${t.status} = 'ready'`),
  ],
);

export type UserRow = typeof users.$inferSelect;
export type VideoRow = typeof videos.$inferSelect;
