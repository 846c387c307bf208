import type { Context } from "hono";
import type { AppEnv } from "../env.ts";
import { HttpError } from "../errors.ts";
import { defaultLimiter, type Limiter } from "./middleware.ts";

/**
 * The per-user fair-use quotas (RATE_LIMIT_VIDEOS, _COMMENTS, _REACTIONS, _CAPTIONS) and what their 429
 * says.
 */
const QUOTAS = {
  videos: "you have created too many videos",
  comments: "you have posted too many comments",
  reactions: "you have reacted too often",
  captions: "you have changed captions too often",
} as const;

export type Quota = keyof typeof QUOTAS;

/**
 * Spends one unit of a signed-in user's quota, or throws 429 `rate_limited` with Retry-After. Called by
 * a handler once the request is valid, so malformed requests cost nothing; keyed by the user, so no
 * number of addresses buys more. If the counter cannot be reached the request goes through (logged).
 */
export async function spendQuota(
  c: Context,
  quota: Quota,
  userId: string,
  limiterOf: (c: Context<AppEnv>) => Limiter | null = defaultLimiter,
): Promise<void> {
  // Any route's context (theirs add variables to AppEnv's).
  const app = c as unknown as Context<AppEnv>;
  const rule = app.var.config.rateLimits[quota];
  const limiter = rule ? limiterOf(app) : null;
  if (!rule || !limiter) return;
  let allowed = true;
  let retryAfter = 0;
  try {
    const decision = await limiter.consume(`quota-${quota}:user:${userId}`, rule);
    allowed = decision.allowed;
    retryAfter = decision.retryAfterSeconds;
  } catch (error) {
    console.error(`quota "${quota}" unavailable, request let through:`, error);
  }
  if (!allowed) {
    throw new HttpError(429, "rate_limited", `${QUOTAS[quota]}; try again in ${retryAfter} seconds`, {
      "Retry-After": String(retryAfter),
    });
  }
}
