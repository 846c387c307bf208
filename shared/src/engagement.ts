import { z } from "zod";
import { ChannelRef } from "./channel.ts";
import { multiLineText } from "./text.ts";

/** A signed-in user's opinion of a video: at most one per user and video, switchable and removable. */
export const ReactionValue = z.enum(["like", "dislike"]);
export type ReactionValue = z.infer<typeof ReactionValue>;

export const ReactionBody = z.object({ value: ReactionValue }).strict();
export type ReactionBody = z.infer<typeof ReactionBody>;

/** The answer to setting or clearing a reaction: the video's totals and the caller's own reaction. */
export const ReactionSummary = z.object({
  likes: z.number().int().nonnegative(),
  dislikes: z.number().int().nonnegative(),
  mine: ReactionValue.nullable(),
});
export type ReactionSummary = z.infer<typeof ReactionSummary>;

/** Counts shown with a video. Views are flushed from the edge in batches, so they trail by seconds. */
export const VideoStats = z.object({
  views: z.number().int().nonnegative(),
  likes: z.number().int().nonnegative(),
  dislikes: z.number().int().nonnegative(),
  /** Every comment, replies included. */
  comments: z.number().int().nonnegative(),
});
export type VideoStats = z.infer<typeof VideoStats>;

/** What POST /v1/videos/:id/views answers: whether this view counted (once per viewer per 30 minutes). */
export const ViewReceipt = z.object({ counted: z.boolean() });
export type ViewReceipt = z.infer<typeof ViewReceipt>;

export const COMMENT_MAX_CHARS = 2000;

export const CommentBody = z
  .object({
    body: multiLineText(COMMENT_MAX_CHARS, { required: true }),
    /** Reply to this top-level comment of the same video (one level of replies only). */
    parentId: z.string().max(64).optional(),
  })
  .strict();
export type CommentBody = z.infer<typeof CommentBody>;

/** Who wrote a comment: the user id and their channel (null when they have none); never an email. */
export const CommentAuthor = z.object({ id: z.string(), channel: ChannelRef.nullable() });
export type CommentAuthor = z.infer<typeof CommentAuthor>;

export const Comment = z.object({
  id: z.string(),
  videoId: z.string(),
  /** The top-level comment this one replies to; null for a top-level comment. */
  parentId: z.string().nullable(),
  /** The author's user id (the same as author.id; kept for older clients). */
  authorId: z.string(),
  author: CommentAuthor,
  body: z.string(),
  createdAt: z.string(),
  /** Replies to this comment (always 0 for a reply: replies cannot be replied to). */
  replyCount: z.number().int().nonnegative(),
});
export type Comment = z.infer<typeof Comment>;

export const CommentList = z.object({
  comments: z.array(Comment),
  /** Pass as `cursor` to get the next page; null on the last page. */
  nextCursor: z.string().nullable(),
});
export type CommentList = z.infer<typeof CommentList>;

export const ListCommentsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(200).optional(),
});
