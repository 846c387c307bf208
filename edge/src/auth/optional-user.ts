import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.ts";
import { HttpError } from "../errors.ts";
import { bearerToken } from "./require-user.ts";
import { verifyAccessToken } from "./tokens.ts";

/** Set by optionalUser: the signed-in user's id, or null for an anonymous caller. */
export type CallerVariables = { callerId: string | null };

/**
 * For routes open to anonymous callers that still care who is asking (views, reading comments): no
 * Authorization header → `c.var.callerId` null; a valid access token → its user id; a token that is
 * present but invalid or expired → 401, so a client with a stale token learns it instead of being
 * silently counted as someone else.
 */
export function optionalUser(): MiddlewareHandler<AppEnv & { Variables: CallerVariables }> {
  return async function optionalUser(c, next) {
    const header = c.req.header("authorization");
    if (header === undefined) {
      c.set("callerId", null);
      return next();
    }
    const token = bearerToken(header);
    const userId = token === null ? null : await verifyAccessToken(token, c.var.config.jwtSecret);
    if (userId === null) {
      throw new HttpError(401, "unauthorized", "the access token is invalid or expired", {
        "WWW-Authenticate": 'Bearer realm="streamlet"',
      });
    }
    c.set("callerId", userId);
    await next();
  };
}
