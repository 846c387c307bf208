import type { z } from "@hono/zod-openapi";
import { Comment, CommentList, ReactionSummary, ViewReceipt } from "@streamlet/shared";

// A named copy of a shared schema (see named() in ../openapi.ts for why it is cloned first).
function named<T extends z.ZodType>(schema: T, name: string) {
  return schema.clone().openapi(name);
}

export const ReactionSummarySchema = named(ReactionSummary, "ReactionSummary");
export const ViewReceiptSchema = named(ViewReceipt, "ViewReceipt");
export const CommentSchema = named(Comment, "Comment");
export const CommentListSchema = named(CommentList, "CommentList");
