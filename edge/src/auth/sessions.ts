import type { AuthTokens } from "@streamlet/shared";
import { and, eq, gt, inArray, isNull, type SQL } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { refreshTokens, users } from "../db/schema.ts";
import { ACCESS_TOKEN_SECONDS, hashRefreshToken, newRefreshToken, signAccessToken } from "./tokens.ts";

type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];
type User = { id: string; email: string };

/** Why a refresh token was refused; each is the 401's error code. */
export type RefreshRefusal = "invalid_token" | "token_expired" | "token_reused";

/** Signs an access token and stores the hash of a new refresh token: a new family (session) per login. */
export async function issueTokens(db: Db | Tx, user: User, secret: string): Promise<AuthTokens> {
  const refresh = await newRefreshToken();
  await db
    .insert(refreshTokens)
    .values({ userId: user.id, tokenHash: refresh.tokenHash, expiresAt: refresh.expiresAt });
  return answer(user, refresh.token, secret);
}

/**
 * Trades a live refresh token for a new one in the same family (rotation). The presented token is
 * claimed with one conditional UPDATE (still current, not revoked, not expired), so of two concurrent
 * refreshes with the same token exactly one succeeds; the loser finds it already replaced and is handled
 * like any reuse. Presenting a replaced or revoked token revokes its whole family: whoever holds the
 * newest token (the rightful client or a thief) is signed out and must log in again.
 */
export async function rotateRefreshToken(
  db: Db,
  token: string,
  secret: string,
  now = new Date(),
): Promise<{ tokens: AuthTokens } | { refused: RefreshRefusal }> {
  const tokenHash = await hashRefreshToken(token);
  const next = await newRefreshToken(now);
  const nextId = crypto.randomUUID();
  const user = await db.transaction(async (tx) => {
    const [claimed] = await tx
      .update(refreshTokens)
      .set({ replacedById: nextId })
      .where(
        and(
          eq(refreshTokens.tokenHash, tokenHash),
          isNull(refreshTokens.replacedById),
          isNull(refreshTokens.revokedAt),
          gt(refreshTokens.expiresAt, now),
        ),
      )
      .returning({ userId: refreshTokens.userId, familyId: refreshTokens.familyId });
    if (!claimed) return null;
    await tx.insert(refreshTokens).values({
      id: nextId,
      userId: claimed.userId,
      familyId: claimed.familyId,
      tokenHash: next.tokenHash,
      expiresAt: next.expiresAt,
    });
    const [owner] = await tx
      .select({ id: users.id, email: users.email })
      .from(users)
      .where(eq(users.id, claimed.userId));
    return owner ?? null;
  });
  if (user) return { tokens: await answer(user, next.token, secret) };

  // Not claimed: say why (the row may have changed since, which only makes the answer "reused").
  const [row] = await db
    .select({
      familyId: refreshTokens.familyId,
      replacedById: refreshTokens.replacedById,
      revokedAt: refreshTokens.revokedAt,
    })
    .from(refreshTokens)
    .where(eq(refreshTokens.tokenHash, tokenHash))
    .limit(1);
  if (!row) return { refused: "invalid_token" };
  if (row.replacedById !== null || row.revokedAt !== null) {
    await revokeFamilies(db, eq(refreshTokens.familyId, row.familyId), now);
    return { refused: "token_reused" };
  }
  return { refused: "token_expired" };
}

/** Revokes the family (session) a refresh token belongs to; an unknown token changes nothing. */
export async function revokeFamilyOf(db: Db, token: string, now = new Date()): Promise<void> {
  const tokenHash = await hashRefreshToken(token);
  const family = db
    .select({ familyId: refreshTokens.familyId })
    .from(refreshTokens)
    .where(eq(refreshTokens.tokenHash, tokenHash));
  await revokeFamilies(db, inArray(refreshTokens.familyId, family), now);
}

/** Revokes every refresh token of a user: all sessions end at their next refresh. */
export async function revokeAllOf(db: Db, userId: string, now = new Date()): Promise<void> {
  await revokeFamilies(db, eq(refreshTokens.userId, userId), now);
}

async function revokeFamilies(db: Db, which: SQL, now: Date) {
  await db
    .update(refreshTokens)
    .set({ revokedAt: now })
    .where(and(which, isNull(refreshTokens.revokedAt)));
}

async function answer(user: User, refreshToken: string, secret: string): Promise<AuthTokens> {
  return {
    user: { id: user.id, email: user.email },
    accessToken: await signAccessToken(user.id, secret),
    expiresIn: ACCESS_TOKEN_SECONDS,
    refreshToken,
  };
}
