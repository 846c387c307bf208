import { sign, verify } from "hono/jwt";
import { randomBytes, sha256, toBase64Url } from "../lib/bytes.ts";

/** Access tokens live 15 minutes: short enough that a leaked one expires before it matters. */
export const ACCESS_TOKEN_SECONDS = 15 * 60;
/** Refresh tokens live 30 days; only their SHA-256 is stored. */
export const REFRESH_TOKEN_SECONDS = 30 * 24 * 60 * 60;

/** Signs an HS256 access token for a user. */
export async function signAccessToken(userId: string, secret: string, nowSeconds = nowInSeconds()) {
  return sign({ sub: userId, iat: nowSeconds, exp: nowSeconds + ACCESS_TOKEN_SECONDS }, secret, "HS256");
}

/** Returns the user id of a valid, unexpired access token, or null for anything else. */
export async function verifyAccessToken(token: string, secret: string): Promise<string | null> {
  try {
    const payload = await verify(token, secret, "HS256");
    // hono/jwt only checks exp when present; an access token without one is not ours.
    if (typeof payload.exp !== "number" || typeof payload.sub !== "string" || payload.sub === "") return null;
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
