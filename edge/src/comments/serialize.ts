import type { Comment } from "@streamlet/shared";
import type { CommentRecord } from "../engagement/store.ts";

/** The API shape of a stored comment. */
export function toComment(record: CommentRecord): Comment {
  return {
    id: record.id,
    videoId: record.videoId,
    parentId: record.parentId,
    authorId: record.authorId,
    body: record.body,
    createdAt: record.createdAt.toISOString(),
    replyCount: record.replyCount,
  };
}
