import type { Context, MiddlewareHandler } from "hono";
import { bearerToken } from "../auth/require-user.ts";
import type { AppEnv } from "../env.ts";
import { HttpError } from "../errors.ts";
import { constantTimeEqual, sha256 } from "../lib/bytes.ts";

export type RequireTranscoderOptions = {
  /** Where the shared secret comes from; defaults to the parsed config's TRANSCODER_SECRET. */
  secret?: (c: Context<AppEnv>) => string;
};

/**
 * Admits only the transcoder: `Authorization: Bearer <TRANSCODER_SECRET>`, compared in constant time
 * (both sides hashed first, so not even the length leaks). User JWTs never match.
 */
export function requireTranscoder(options: RequireTranscoderOptions = {}): MiddlewareHandler<AppEnv> {
  const secretOf = options.secret ?? ((c: Context<AppEnv>) => c.var.config.transcoderSecret);
  return async function requireTranscoder(c, next) {
    const token = bearerToken(c.req.header("authorization"));
    const ok = token !== null && constantTimeEqual(await sha256(token), await sha256(secretOf(c)));
    if (!ok) {
      throw new HttpError(401, "unauthorized", "the transcoder secret is required", {
        "WWW-Authenticate": 'Bearer realm="streamlet-internal"',
      });
    }
    await next();
  };
}
