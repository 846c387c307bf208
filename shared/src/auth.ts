import { z } from "zod";

/**
 * A refresh token as a client holds it (the opaque string from AuthTokens.refreshToken). Bounded so a
 * huge value is refused before it is hashed; anything else that is not a live token answers 401.
 */
export const RefreshToken = z.string().min(1, { message: "must not be empty" }).max(512);

export const RefreshBody = z.object({ refreshToken: RefreshToken }).strict();
export type RefreshBody = z.infer<typeof RefreshBody>;

export const LogoutBody = z.object({ refreshToken: RefreshToken }).strict();
export type LogoutBody = z.infer<typeof LogoutBody>;
