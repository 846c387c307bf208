import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { CommentBody, canonicalId, ListCommentsQuery } from "@streamlet/shared";
import { optionalUser } from "../auth/optional-user.ts";
import { requireUser } from "../auth/require-user.ts";
import { channelRefOf, channelRefs } from "../channels/refs.ts";
import type { Db } from "../db/client.ts";
import { withEngagementStore } from "../engagement/open-store.ts";
import { CommentListSchema, CommentSchema } from "../engagement/openapi.ts";
import type { CommentRecord, EngagementStore, Page } from "../engagement/store.ts";
import type { AppEnv } from "../env.ts";
import { HttpError, notFound } from "../errors.ts";
import { idParams } from "../ids.ts";
import { errors, json, jsonBody, userSecurity } from "../openapi.ts";
import { spendQuota } from "../rate-limit/user-quotas.ts";
import { readableVideo, videoById } from "../videos/access.ts";
import { encodeCursor, parseCursorParam } from "../videos/cursor.ts";
import { toComment } from "./serialize.ts";

const VideoIdParam = idParams("video", "Video id");
const CommentIdParam = idParams("comment", "Comment id");

const createComment = createRoute({
  method: "post",
  path: "/videos/{id}/comments",
  tags: ["comments"],
  summary: "Comment on a ready video, or reply to one of its top-level comments",
  description:
    "`body` is 1-2000 characters after trimming. `parentId` makes it a reply; replies cannot be replied to.",
  security: userSecurity,
  middleware: [requireUser(), withEngagementStore()] as const,
  request: { params: VideoIdParam, body: jsonBody(CommentBody) },
  responses: {
    201: json(CommentSchema, "The new comment"),
    ...errors({
      400:
        "invalid_json / invalid_request (body), invalid_parent (no such comment on this video), " +
        "reply_depth (the parent is itself a reply)",
      401: "Not signed in",
      429: "rate_limited: too many comments (RATE_LIMIT_COMMENTS per user); retry after Retry-After seconds",
      404: "No such video, not ready yet, or not readable by you",
      415: "Body is not JSON",
    }),
  },
});

const listComments = createRoute({
  method: "get",
  path: "/videos/{id}/comments",
  tags: ["comments"],
  summary: "A video's top-level comments, newest first, each with its replyCount",
  middleware: [optionalUser(), withEngagementStore()] as const,
  request: { params: VideoIdParam, query: ListCommentsQuery },
  responses: {
    200: json(CommentListSchema, "A page of comments"),
    ...errors({
      400: "invalid_request (limit) or invalid_cursor",
      401: "An invalid or expired access token",
      404: "No such video, not ready yet, or not readable",
    }),
  },
});

const listReplies = createRoute({
  method: "get",
  path: "/comments/{id}/replies",
  tags: ["comments"],
  summary: "A comment's replies, newest first",
  middleware: [optionalUser(), withEngagementStore()] as const,
  request: { params: CommentIdParam, query: ListCommentsQuery },
  responses: {
    200: json(CommentListSchema, "A page of replies (always empty for a reply)"),
    ...errors({
      400: "invalid_request (limit) or invalid_cursor",
      401: "An invalid or expired access token",
      404: "No such comment, or its video is not readable",
    }),
  },
});

const deleteComment = createRoute({
  method: "delete",
  path: "/comments/{id}",
  tags: ["comments"],
  summary: "Delete a comment (yours, or any on your video); its replies are deleted with it",
  security: userSecurity,
  middleware: [requireUser(), withEngagementStore()] as const,
  request: { params: CommentIdParam },
  responses: {
    204: { description: "Deleted, with its replies" },
    ...errors({ 401: "Not signed in", 404: "No such comment, or neither yours nor on your video" }),
  },
});

/** The comment with this (canonical) id, or a 404. */
async function commentOr404(store: EngagementStore, id: string): Promise<CommentRecord> {
  const comment = await store.getComment(id);
  if (comment === null) throw notFound("comment");
  return comment;
}

/** A page of comments with their authors' channels, looked up in one query for the page. */
async function toList(db: Db, page: Page<CommentRecord>) {
  const channels = await channelRefs(
    db,
    page.items.map((comment) => comment.authorId),
  );
  return {
    comments: page.items.map((comment) => toComment(comment, channels.get(comment.authorId) ?? null)),
    nextCursor: page.next ? encodeCursor(page.next) : null,
  };
}

/** /v1/videos/:id/comments and /v1/comments/:id (mounted at /v1). */
export const commentRoutes = new OpenAPIHono<AppEnv>()
  .openapi(createComment, async (c) => {
    const { userId } = c.var;
    const video = await readableVideo(c.var.db, c.req.valid("param").id, userId);
    const { body, parentId: rawParentId } = c.req.valid("json");
    const parentId = rawParentId === undefined ? null : canonicalId(rawParentId);
    if (rawParentId !== undefined && parentId === null) {
      throw new HttpError(400, "invalid_parent", "parentId is not a comment on this video");
    }
    await spendQuota(c, "comments", userId);
    const store = await c.var.engagement();
    const result = await store.createComment({
      videoId: video.id,
      authorId: userId,
      body,
      parentId,
    });
    if (!result.ok) {
      throw result.reason === "reply_depth"
        ? new HttpError(400, "reply_depth", "replies cannot be replied to; reply to the top-level comment")
        : new HttpError(400, "invalid_parent", "parentId is not a comment on this video");
    }
    return c.json(toComment(result.comment, await channelRefOf(c.var.db, userId)), 201);
  })
  .openapi(listComments, async (c) => {
    const video = await readableVideo(c.var.db, c.req.valid("param").id, c.var.callerId);
    const { limit, cursor } = c.req.valid("query");
    const page = await (await c.var.engagement()).listComments(video.id, {
      limit,
      cursor: parseCursorParam(cursor),
    });
    return c.json(await toList(c.var.db, page), 200);
  })
  .openapi(listReplies, async (c) => {
    const { limit, cursor: cursorText } = c.req.valid("query");
    const cursor = parseCursorParam(cursorText);
    const store = await c.var.engagement();
    const comment = await commentOr404(store, c.req.valid("param").id);
    // The thread is as readable as its video; the same 404 as for a missing comment otherwise.
    await readableVideo(c.var.db, comment.videoId, c.var.callerId).catch((error: unknown) => {
      throw error instanceof HttpError && error.status === 404 ? notFound("comment") : error;
    });
    return c.json(await toList(c.var.db, await store.listReplies(comment.id, { limit, cursor })), 200);
  })
  .openapi(deleteComment, async (c) => {
    const { userId } = c.var;
    const store = await c.var.engagement();
    const comment = await commentOr404(store, c.req.valid("param").id);
    if (comment.authorId !== userId) {
      // Not the author: only the video's owner may delete it, and nobody else learns it exists.
      const video = await videoById(c.var.db, comment.videoId);
      if (video?.ownerId !== userId) throw notFound("comment");
    }
    if (!(await store.deleteComment(comment.id))) throw notFound("comment");
    return c.body(null, 204);
  });
