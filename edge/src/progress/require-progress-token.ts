import { canonicalId, PROGRESS_TOKEN_HEADER } from "@streamlet/shared";
import type { Context, MiddlewareHandler } from "hono";
import { verifyProgressToken } from "../auth/tokens.ts";
import type { AppEnv } from "../env.ts";
import { HttpError } from "../errors.ts";

export type RequireProgressTokenOptions = {
  /** Where the HS256 secret comes from; defaults to the parsed config's JWT_SECRET. */
  secret?: (c: Context<AppEnv>) => string;
};

/**
 * Admits a publisher only with the progress token the edge minted for this job: PROGRESS_TOKEN_HEADER
 * valid, unexpired, `aud` streamlet:progress and scope publish (else 401; a user's access token is
 * refused too), and issued for the video in the path, compared in canonical form (else 403). Goes after
 * requireTranscoder: the token scopes the transcoder's secret to one video, it never replaces it.
 */
export function requireProgressToken(options: RequireProgressTokenOptions = {}): MiddlewareHandler<AppEnv> {
  const secretOf = options.secret ?? ((c: Context<AppEnv>) => c.var.config.jwtSecret);
  return async function requireProgressToken(c, next) {
    const token = c.req.header(PROGRESS_TOKEN_HEADER) ?? "";
    const videoId = token === "" ? null : await verifyProgressToken(token, secretOf(c));
    if (videoId === null) {
      throw new HttpError(401, "unauthorized", `a valid ${PROGRESS_TOKEN_HEADER} is required`);
    }
    // Both sides canonical: the path may carry the id in any case (a token minted before ids were
    // canonical may too); a malformed path id matches nothing.
    const pathId = canonicalId(c.req.param("id") ?? "");
    if (pathId === null || canonicalId(videoId) !== pathId) {
      throw new HttpError(403, "forbidden", "the progress token was issued for another video");
    }
    await next();
  };
}
