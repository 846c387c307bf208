import type { ReactionValue } from "@streamlet/shared";

/** A position in a newest-first list of comments: the last item of a page, by (createdAt desc, id desc). */
export type CommentCursor = { createdAt: Date; id: string };

/** One page of a newest-first list; `next` is null on the last page. */
export type Page<T> = { items: T[]; next: CommentCursor | null };

export type PageRequest = { limit: number; cursor: CommentCursor | null };

/** A stored comment. `replyCount` is filled by the list calls and is 0 elsewhere. */
export type CommentRecord = {
  id: string;
  videoId: string;
  authorId: string;
  /** The top-level comment this one replies to; null for a top-level comment. */
  parentId: string | null;
  body: string;
  createdAt: Date;
  replyCount: number;
};

export type NewComment = {
  videoId: string;
  authorId: string;
  body: string;
  parentId: string | null;
};

/**
 * What createComment did: `parent_not_found` when the parent does not exist or belongs to another video
 * (the two are not told apart), `reply_depth` when the parent is itself a reply.
 */
export type CreateCommentResult =
  | { ok: true; comment: CommentRecord }
  | { ok: false; reason: "parent_not_found" | "reply_depth" };

export type ReactionCounts = { likes: number; dislikes: number };

/** Views to add to a video's total (what a ViewCounter object flushes). */
export type ViewBatchEntry = { videoId: string; count: number };

/**
 * Where likes, views and comments live. Two implementations, held to one contract
 * (edge/test/engagement-store-contract.ts): Postgres through drizzle (the default) and MongoDB (when
 * MONGODB_URL is set). Callers check who may do what; the store only keeps the data consistent
 * (one reaction per user and video, one level of replies, replies deleted with their parent).
 * Counting calls answer an entry for every id asked about, 0 where there is nothing.
 */
export interface EngagementStore {
  /** Sets (or switches) the user's reaction to the video. */
  setReaction(videoId: string, userId: string, value: ReactionValue): Promise<void>;
  /** Removes the user's reaction, if any. */
  clearReaction(videoId: string, userId: string): Promise<void>;
  reactionCounts(videoIds: readonly string[]): Promise<Map<string, ReactionCounts>>;
  /** The user's reaction to the video, or null. */
  mine(videoId: string, userId: string): Promise<ReactionValue | null>;

  /** Adds counted views; entries for the same video add up. */
  addViews(batch: readonly ViewBatchEntry[]): Promise<void>;
  viewCount(videoIds: readonly string[]): Promise<Map<string, number>>;

  createComment(input: NewComment): Promise<CreateCommentResult>;
  /** A video's top-level comments, newest first, each with its replyCount. */
  listComments(videoId: string, page: PageRequest): Promise<Page<CommentRecord>>;
  /** A comment's replies, newest first. */
  listReplies(parentId: string, page: PageRequest): Promise<Page<CommentRecord>>;
  getComment(id: string): Promise<CommentRecord | null>;
  /** Deletes the comment and its replies; false when there was no such comment. */
  deleteComment(id: string): Promise<boolean>;
  /** Every comment of each video, replies included. */
  commentCount(videoIds: readonly string[]): Promise<Map<string, number>>;

  /** Removes everything kept for a deleted video: reactions, its view count, comments and replies. */
  deleteVideo(videoId: string): Promise<void>;
}

/** A page from `limit + 1` newest-first rows: the first `limit`, and a cursor when there were more. */
export function toPage<T extends { createdAt: Date; id: string }>(rows: T[], limit: number): Page<T> {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, next: rows.length > limit && last ? { createdAt: last.createdAt, id: last.id } : null };
}

/** A map with an entry for every id, starting at `zero()`. */
export function zeroes<T>(ids: readonly string[], zero: () => T): Map<string, T> {
  return new Map(ids.map((id) => [id, zero()]));
}

/** Sums batch entries per video (stores write each video once per batch). */
export function sumViews(batch: readonly ViewBatchEntry[]): Map<string, number> {
  const totals = new Map<string, number>();
  for (const { videoId, count } of batch) {
    if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`bad view count ${count}`);
    if (count > 0) totals.set(videoId, (totals.get(videoId) ?? 0) + count);
  }
  return totals;
}
