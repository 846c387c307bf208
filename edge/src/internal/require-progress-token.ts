import type { Context, MiddlewareHandler } from "hono";
import { verifyProgressToken } from "../auth/tokens.ts";
import type { AppEnv } from "../env.ts";
import { HttpError } from "../errors.ts";

export type RequireProgressTokenOptions = {
  /** Where the HS256 secret comes from; defaults to the parsed config's JWT_SECRET. */
  secret?: (c: Context<AppEnv>) => string;
};

/** The header the transcoder sends its job's progress token in. */
export const PROGRESS_TOKEN_HEADER = "X-Progress-Token";

/**
 * Admits a publisher only with the progress token the edge minted for this job: `X-Progress-Token`
 * valid, unexpired, `aud` streamlet:progress and scope publish (else 401; a user's access token is
 * refused too), and issued for the video in the path (else 403). Goes after requireTranscoder: the
 * token scopes the transcoder's secret to one video, it never replaces it.
 */
export function requireProgressToken(options: RequireProgressTokenOptions = {}): MiddlewareHandler<AppEnv> {
  const secretOf = options.secret ?? ((c: Context<AppEnv>) => c.var.config.jwtSecret);
  return async function requireProgressToken(c, next) {
    const token = c.req.header(PROGRESS_TOKEN_HEADER) ?? "";
    const videoId = token === "" ? null : await verifyProgressToken(token, secretOf(c));
    if (videoId === null) {
      throw new HttpError(401, "unauthorized", `a valid ${PROGRESS_TOKEN_HEADER} is required`);
    }
    if (videoId !== c.req.param("id")) {
      throw new HttpError(403, "forbidden", "the progress token was issued for another video");
    }
    await next();
  };
}
