import { sign, verify } from "hono/jwt";
import { randomBytes, sha256, toBase64Url } from "../lib/bytes.ts";

/** Access tokens live 15 minutes: short enough that a leaked one expires before it matters. */
export const ACCESS_TOKEN_SECONDS = 15 * 60;
/** Refresh tokens live 30 days; only their SHA-256 is stored. */
export const REFRESH_TOKEN_SECONDS = 30 * 24 * 60 * 60;

/**
 * Audience of access tokens. Every kind of token names its own purpose (access and progress tokens their
 * `aud`, playback signatures a `playback:` prefix, refresh tokens are opaque and only ever looked up by
 * hash), so none can be used where another is expected.
 */
export const ACCESS_AUDIENCE = "streamlet:access";

/** Signs an HS256 access token for a user. */
export async function signAccessToken(userId: string, secret: string, nowSeconds = nowInSeconds()) {
  return sign(
    { sub: userId, aud: ACCESS_AUDIENCE, iat: nowSeconds, exp: nowSeconds + ACCESS_TOKEN_SECONDS },
    secret,
    "HS256",
  );
}

/**
 * Returns the user id of a valid, unexpired access token, or null for anything else: a token without
 * the access audience (a progress token, `aud: streamlet:progress`, or one from before audiences) or with
 * a scope is not one.
 */
export async function verifyAccessToken(token: string, secret: string): Promise<string | null> {
  try {
    const payload = await verify(token, secret, { alg: "HS256", aud: ACCESS_AUDIENCE });
    // hono/jwt only checks exp when present; an access token without one is not ours.
    if (typeof payload.exp !== "number" || typeof payload.sub !== "string" || payload.sub === "") return null;
    if (payload.aud !== ACCESS_AUDIENCE || payload.scope !== undefined) return null;
    return payload.sub;
  } catch {
    return null;
  }
}

/** Audience of the tokens that let the transcoder publish one video's progress. */
export const PROGRESS_AUDIENCE = "streamlet:progress";
/** The only scope a progress token has. */
export const PROGRESS_SCOPE = "publish";
/**
 * Progress tokens live 7 days: the token is minted when the job is enqueued and a job can wait in the
 * queue (a backlog, BullMQ retries with backoff) long before the transcoder connects. It grants nothing
 * but publishing that one video's progress, and only together with TRANSCODER_SECRET.
 */
export const PROGRESS_TOKEN_SECONDS = 7 * 24 * 60 * 60;

/** Signs the HS256 token the edge puts in a transcode job: publish rights on one video's progress channel. */
export async function signProgressToken(videoId: string, secret: string, nowSeconds = nowInSeconds()) {
  return sign(
    {
      sub: videoId,
      aud: PROGRESS_AUDIENCE,
      scope: PROGRESS_SCOPE,
      iat: nowSeconds,
      exp: nowSeconds + PROGRESS_TOKEN_SECONDS,
    },
    secret,
    "HS256",
  );
}

/** Returns the video id of a valid, unexpired progress token, or null for anything else (user tokens included). */
export async function verifyProgressToken(token: string, secret: string): Promise<string | null> {
  try {
    const payload = await verify(token, secret, { alg: "HS256", aud: PROGRESS_AUDIENCE });
    if (typeof payload.exp !== "number" || payload.scope !== PROGRESS_SCOPE) return null;
    if (typeof payload.sub !== "string" || payload.sub === "") return null;
    return payload.sub;
  } catch {
    return null;
  }
}

/** A new opaque refresh token (32 random bytes, base64url) plus the hash to store instead of it. */
export async function newRefreshToken(now = new Date()) {
  const token = toBase64Url(randomBytes(32));
  return {
    token,
    tokenHash: await hashRefreshToken(token),
    expiresAt: new Date(now.getTime() + REFRESH_TOKEN_SECONDS * 1000),
  };
}

/** What the refresh_tokens table stores: the hex SHA-256 of the token, so a DB leak yields no tokens. */
export async function hashRefreshToken(token: string): Promise<string> {
  return Array.from(await sha256(token), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function nowInSeconds() {
  return Math.floor(Date.now() / 1000);
}
