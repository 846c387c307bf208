import type { ReactionValue } from "@streamlet/shared";
import { and, count, desc, eq, inArray, isNull, type SQL, sql } from "drizzle-orm";
import { alias } from "drizzle-orm/pg-core";
import type { Db } from "../db/client.ts";
import { type CommentRow, comments, reactions, videoViewCounts } from "../db/schema.ts";
import {
  type CommentCursor,
  type CommentRecord,
  type CreateCommentResult,
  type EngagementStore,
  type NewComment,
  type Page,
  type PageRequest,
  type ReactionCounts,
  sumViews,
  toPage,
  type ViewBatchEntry,
  zeroes,
} from "./store.ts";

const parents = alias(comments, "parent");

/** The default EngagementStore: the tables of edge/src/db/schema.ts, through the request's drizzle client. */
export class PostgresEngagementStore implements EngagementStore {
  private readonly db: Db;

  constructor(db: Db) {
    this.db = db;
  }

  async setReaction(videoId: string, userId: string, value: ReactionValue): Promise<void> {
    await this.db
      .insert(reactions)
      .values({ videoId, userId, value })
      .onConflictDoUpdate({
        target: [reactions.videoId, reactions.userId],
        set: { value, updatedAt: sql`now()` },
      });
  }

  async clearReaction(videoId: string, userId: string): Promise<void> {
    await this.db.delete(reactions).where(and(eq(reactions.videoId, videoId), eq(reactions.userId, userId)));
  }

  async reactionCounts(videoIds: readonly string[]): Promise<Map<string, ReactionCounts>> {
    const counts = zeroes<ReactionCounts>(videoIds, () => ({ likes: 0, dislikes: 0 }));
    if (videoIds.length === 0) return counts;
    const rows = await this.db
      .select({
        videoId: reactions.videoId,
        likes: sql<number>`count(*) filter (where ${reactions.value} = 'like')`.mapWith(Number),
        dislikes: sql<number>`count(*) filter (where ${reactions.value} = 'dislike')`.mapWith(Number),
      })
      .from(reactions)
      .where(inArray(reactions.videoId, [...videoIds]))
      .groupBy(reactions.videoId);
    for (const row of rows) counts.set(row.videoId, { likes: row.likes, dislikes: row.dislikes });
    return counts;
  }

  async mine(videoId: string, userId: string): Promise<ReactionValue | null> {
    const [row] = await this.db
      .select({ value: reactions.value })
      .from(reactions)
      .where(and(eq(reactions.videoId, videoId), eq(reactions.userId, userId)))
      .limit(1);
    return row?.value ?? null;
  }

  async addViews(batch: readonly ViewBatchEntry[]): Promise<void> {
    const totals = sumViews(batch);
    if (totals.size === 0) return;
    const entries = JSON.stringify([...totals].map(([video_id, views]) => ({ video_id, views })));
    // One statement for the batch; views of a video that no longer exists are dropped (the join), not
    // retried forever by the object that flushes them.
    await this.db.execute(sql`
      insert into ${videoViewCounts} (video_id, views, updated_at)
      select batch.video_id, batch.views, now()
      from jsonb_to_recordset(${entries}::jsonb) as batch(video_id uuid, views bigint)
      join videos on videos.id = batch.video_id
      on conflict (video_id) do update
        set views = ${videoViewCounts.views} + excluded.views, updated_at = now()`);
  }

  async viewCount(videoIds: readonly string[]): Promise<Map<string, number>> {
    const counts = zeroes(videoIds, () => 0);
    if (videoIds.length === 0) return counts;
    const rows = await this.db
      .select({ videoId: videoViewCounts.videoId, views: videoViewCounts.views })
      .from(videoViewCounts)
      .where(inArray(videoViewCounts.videoId, [...videoIds]));
    for (const row of rows) counts.set(row.videoId, row.views);
    return counts;
  }

  async createComment(input: NewComment): Promise<CreateCommentResult> {
    const id = crypto.randomUUID();
    const { parentId } = input;
    if (parentId === null) {
      const [row] = await this.db
        .insert(comments)
        .values({ id, videoId: input.videoId, authorId: input.authorId, body: input.body })
        .returning();
      if (!row) throw new Error("insert into comments returned no row");
      return { ok: true, comment: toRecord(row, 0) };
    }
    // The reply is inserted only if its parent is a top-level comment of the same video, in one statement.
    let row: CommentRow | undefined;
    try {
      [row] = await this.db
        .insert(comments)
        .select((qb) =>
          qb
            .select({
              id: sql`${id}::uuid`.as("id"),
              videoId: parents.videoId,
              authorId: sql`${input.authorId}::uuid`.as("author_id"),
              parentId: parents.id,
              body: sql`${input.body}`.as("body"),
              createdAt: sql`now()`.as("created_at"),
            })
            .from(parents)
            .where(
              and(eq(parents.id, parentId), eq(parents.videoId, input.videoId), isNull(parents.parentId)),
            ),
        )
        .returning();
    } catch (error) {
      // The parent was deleted between the select and the foreign key check.
      if (pgErrorCode(error) === "23503") return { ok: false, reason: "parent_not_found" };
      throw error;
    }
    if (row) return { ok: true, comment: toRecord(row, 0) };
    const parent = await this.getComment(parentId);
    if (parent === null || parent.videoId !== input.videoId) return { ok: false, reason: "parent_not_found" };
    return { ok: false, reason: "reply_depth" };
  }

  listComments(videoId: string, page: PageRequest): Promise<Page<CommentRecord>> {
    return this.#list(and(eq(comments.videoId, videoId), isNull(comments.parentId)), page, true);
  }

  listReplies(parentId: string, page: PageRequest): Promise<Page<CommentRecord>> {
    return this.#list(eq(comments.parentId, parentId), page, false);
  }

  async #list(
    where: SQL | undefined,
    { limit, cursor }: PageRequest,
    withReplyCounts: boolean,
  ): Promise<Page<CommentRecord>> {
    // Spelled out: drizzle writes the outer columns unqualified in a select list, where "id" would
    // mean the subquery's own row.
    const replyCount = withReplyCounts
      ? sql<number>`(select count(*) from comments as reply where reply.parent_id = comments.id)`.mapWith(
          Number,
        )
      : sql<number>`0`.mapWith(Number);
    const rows = await this.db
      .select({ comment: comments, replyCount })
      .from(comments)
      .where(and(where, cursor ? before(cursor) : undefined))
      .orderBy(desc(comments.createdAt), desc(comments.id))
      .limit(limit + 1);
    return toPage(
      rows.map((row) => toRecord(row.comment, row.replyCount)),
      limit,
    );
  }

  async getComment(id: string): Promise<CommentRecord | null> {
    const [row] = await this.db.select().from(comments).where(eq(comments.id, id)).limit(1);
    return row ? toRecord(row, 0) : null;
  }

  async deleteComment(id: string): Promise<boolean> {
    // Replies go with it: comments.parent_id references comments.id on delete cascade.
    const deleted = await this.db.delete(comments).where(eq(comments.id, id)).returning({ id: comments.id });
    return deleted.length > 0;
  }

  async commentCount(videoIds: readonly string[]): Promise<Map<string, number>> {
    const counts = zeroes(videoIds, () => 0);
    if (videoIds.length === 0) return counts;
    const rows = await this.db
      .select({ videoId: comments.videoId, comments: count() })
      .from(comments)
      .where(inArray(comments.videoId, [...videoIds]))
      .groupBy(comments.videoId);
    for (const row of rows) counts.set(row.videoId, row.comments);
    return counts;
  }

  async deleteVideo(videoId: string): Promise<void> {
    // Deleting the videos row cascades to the same rows; explicit here so the contract holds for the
    // store alone (the DELETE route calls it before removing the row).
    await this.db.transaction(async (tx) => {
      await tx.delete(reactions).where(eq(reactions.videoId, videoId));
      await tx.delete(videoViewCounts).where(eq(videoViewCounts.videoId, videoId));
      await tx.delete(comments).where(eq(comments.videoId, videoId));
    });
  }
}

/** Rows strictly after the cursor in (created_at desc, id desc) order. */
function before(cursor: CommentCursor): SQL {
  return sql`(${comments.createdAt}, ${comments.id}) < (${cursor.createdAt.toISOString()}::timestamptz, ${cursor.id}::uuid)`;
}

function toRecord(row: CommentRow, replyCount: number): CommentRecord {
  return {
    id: row.id,
    videoId: row.videoId,
    authorId: row.authorId,
    parentId: row.parentId,
    body: row.body,
    createdAt: row.createdAt,
    replyCount,
  };
}

/** The SQLSTATE of a Postgres error, also when drizzle wrapped it (DrizzleQueryError keeps it as cause). */
function pgErrorCode(error: unknown): string | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") return code;
    current = current.cause;
  }
  return undefined;
}
