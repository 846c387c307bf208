import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv, UserVariables } from "../env.ts";
import { HttpError } from "../errors.ts";
import { verifyAccessToken } from "./tokens.ts";

type UserEnv = AppEnv & { Variables: UserVariables };

export type RequireUserOptions = {
  /** Where the HS256 secret comes from; defaults to the parsed config's JWT_SECRET. */
  secret?: (c: Context<UserEnv>) => string;
  /** Where the token comes from; defaults to the `Authorization: Bearer` header. */
  token?: (c: Context<UserEnv>) => string | null;
};

/**
 * Lets a request through only with a valid access token (by default from `Authorization: Bearer`) and
 * puts the user id in `c.var.userId`; anything else (missing, malformed, bad signature, expired, a
 * progress token) is a 401 "unauthorized".
 */
export function requireUser(options: RequireUserOptions = {}): MiddlewareHandler<UserEnv> {
  const secretOf = options.secret ?? ((c: Context<UserEnv>) => c.var.config.jwtSecret);
  const tokenOf = options.token ?? ((c: Context<UserEnv>) => bearerToken(c.req.header("authorization")));
  return async function requireUser(c, next) {
    const token = tokenOf(c);
    const userId = token === null ? null : await verifyAccessToken(token, secretOf(c));
    if (userId === null) {
      throw new HttpError(401, "unauthorized", "a valid access token is required", {
        "WWW-Authenticate": 'Bearer realm="streamlet"',
      });
    }
    c.set("userId", userId);
    await next();
  };
}

/** The token of an `Authorization: Bearer <token>` header, or null. */
export function bearerToken(header: string | undefined): string | null {
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? "");
  return match?.[1] ?? null;
}
