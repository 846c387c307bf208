import type { ChannelRef, Comment } from "@streamlet/shared";
import type { CommentRecord } from "../engagement/store.ts";

/** The API shape of a stored comment, its author shown by id and channel (never by email). */
export function toComment(record: CommentRecord, authorChannel: ChannelRef | null): Comment {
  return {
    id: record.id,
    videoId: record.videoId,
    parentId: record.parentId,
    authorId: record.authorId,
    author: { id: record.authorId, channel: authorChannel },
    body: record.body,
    createdAt: record.createdAt.toISOString(),
    replyCount: record.replyCount,
  };
}
