import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { ReactionBody, type ReactionSummary } from "@streamlet/shared";
import { optionalUser } from "../auth/optional-user.ts";
import { requireUser } from "../auth/require-user.ts";
import type { AppEnv } from "../env.ts";
import { idParams } from "../ids.ts";
import { errors, json, jsonBody, userSecurity } from "../openapi.ts";
import { byClientIp } from "../rate-limit/middleware.ts";
import { spendQuota } from "../rate-limit/user-quotas.ts";
import { readableVideo } from "../videos/access.ts";
import { withEngagementStore } from "./open-store.ts";
import { ReactionSummarySchema, ViewReceiptSchema } from "./openapi.ts";
import type { EngagementStore } from "./store.ts";
import { viewerKey } from "./viewer.ts";

const IdParam = idParams();

const reactionErrors = errors({
  400: "invalid_json / invalid_request: the body is not { value: like | dislike }",
  401: "Not signed in",
  404: "No such video, not ready yet, or not readable by you",
  415: "Body is not JSON",
  429: "rate_limited: too many reactions (RATE_LIMIT_REACTIONS per user); retry after Retry-After seconds",
});

const putReaction = createRoute({
  method: "put",
  path: "/{id}/reaction",
  tags: ["engagement"],
  summary: "Like or dislike a ready video (replaces your previous reaction)",
  security: userSecurity,
  middleware: [requireUser(), withEngagementStore()] as const,
  request: { params: IdParam, body: jsonBody(ReactionBody) },
  responses: { 200: json(ReactionSummarySchema, "The video's totals and your reaction"), ...reactionErrors },
});

const deleteReaction = createRoute({
  method: "delete",
  path: "/{id}/reaction",
  tags: ["engagement"],
  summary: "Remove your reaction to a ready video (answered the same when there was none)",
  security: userSecurity,
  middleware: [requireUser(), withEngagementStore()] as const,
  request: { params: IdParam },
  responses: {
    200: json(ReactionSummarySchema, "The video's totals and your reaction (null)"),
    ...errors({
      401: "Not signed in",
      404: "No such video, not ready yet, or not readable by you",
      429: "rate_limited: too many reactions (RATE_LIMIT_REACTIONS per user); retry after Retry-After seconds",
    }),
  },
});

const postView = createRoute({
  method: "post",
  path: "/{id}/views",
  tags: ["engagement"],
  summary: "Record a view of a ready video (anonymous allowed)",
  description:
    "Counted at most once per viewer and video in 30 minutes (viewer: the signed-in user, else a salted " +
    "hash of address and user agent). Counted views are written to the store in batches within seconds, " +
    "so `stats.views` trails slightly. A present but invalid access token is refused with 401.",
  middleware: [optionalUser()] as const,
  request: { params: IdParam },
  responses: {
    202: json(ViewReceiptSchema, "Accepted; `counted` is false for a repeat within 30 minutes"),
    ...errors({
      401: "An invalid or expired access token",
      404: "No such video, not ready yet, or not readable",
    }),
  },
});

async function summary(store: EngagementStore, videoId: string, userId: string): Promise<ReactionSummary> {
  const counts = (await store.reactionCounts([videoId])).get(videoId) ?? { likes: 0, dislikes: 0 };
  return { ...counts, mine: await store.mine(videoId, userId) };
}

/** /v1/videos/:id/reaction and /v1/videos/:id/views (mounted beside the video routes). */
export const engagementRoutes = new OpenAPIHono<AppEnv>()
  .openapi(putReaction, async (c) => {
    const { userId } = c.var;
    const video = await readableVideo(c.var.db, c.req.valid("param").id, userId);
    await spendQuota(c, "reactions", userId);
    const store = await c.var.engagement();
    await store.setReaction(video.id, userId, c.req.valid("json").value);
    return c.json(await summary(store, video.id, userId), 200);
  })
  .openapi(deleteReaction, async (c) => {
    const { userId } = c.var;
    const video = await readableVideo(c.var.db, c.req.valid("param").id, userId);
    await spendQuota(c, "reactions", userId);
    const store = await c.var.engagement();
    await store.clearReaction(video.id, userId);
    return c.json(await summary(store, video.id, userId), 200);
  })
  .openapi(postView, async (c) => {
    const { callerId } = c.var;
    const video = await readableVideo(c.var.db, c.req.valid("param").id, callerId);
    const viewer = await viewerKey({ userId: callerId, address: byClientIp(c) }, c.var.config.jwtSecret);
    const counters = c.env.VIEW_COUNTER;
    const receipt = await counters.get(counters.idFromName(video.id)).view(video.id, viewer);
    return c.json(receipt, 202);
  });
