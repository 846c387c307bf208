import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { LoginBody, LogoutBody, RefreshBody, SignupBody } from "@streamlet/shared";
import { eq } from "drizzle-orm";
import { users } from "../db/schema.ts";
import type { AppEnv } from "../env.ts";
import { HttpError } from "../errors.ts";
import { AuthTokensSchema, ErrorSchema, errors, json, jsonBody, userSecurity } from "../openapi.ts";
import { loginFailureLimit, loginLimit, refreshLimit, signupLimit } from "./limits.ts";
import { hashPassword, verifyAgainstDummy, verifyPassword } from "./password.ts";
import { requireUser } from "./require-user.ts";
import {
  issueTokens,
  type RefreshRefusal,
  revokeAllOf,
  revokeFamilyOf,
  rotateRefreshToken,
} from "./sessions.ts";
import { passwordWeakness } from "./weak-password.ts";

/** The 429 entry of a rate-limited route: the error envelope plus Retry-After. */
const rateLimited = (per: string) => ({
  429: {
    ...json(ErrorSchema, `rate_limited: too many attempts (${per}); retry after Retry-After seconds`),
    headers: z.object({
      "Retry-After": z
        .string()
        .openapi({ description: "Seconds until a request may succeed", example: "42" }),
    }),
  },
});

const signup = createRoute({
  method: "post",
  path: "/signup",
  tags: ["auth"],
  summary: "Create an account",
  description:
    "Passwords are 10-256 characters, must not be (or contain) the email address or its name part, " +
    "and must not be one of the most common passwords (400 weak_password says which rule failed).",
  middleware: [signupLimit()] as const,
  request: { body: jsonBody(SignupBody) },
  responses: {
    201: json(AuthTokensSchema, "Account created; signed in"),
    ...errors({
      400: "invalid_request, invalid_json, or weak_password",
      409: "email_taken",
      415: "Body is not JSON",
    }),
    ...rateLimited("per client address"),
  },
});

const login = createRoute({
  method: "post",
  path: "/login",
  tags: ["auth"],
  summary: "Sign in with email and password",
  description:
    "Limited per client address and, for failed attempts, per account: over the account's limit a wrong " +
    "password is answered 429, the right one still signs in (and clears the account's count).",
  middleware: [loginLimit(), loginFailureLimit()] as const,
  request: { body: jsonBody(LoginBody) },
  responses: {
    200: json(AuthTokensSchema, "Signed in"),
    ...errors({
      400: "Invalid body",
      401: "invalid_credentials",
      415: "Body is not JSON",
    }),
    ...rateLimited("per client address, or failed attempts per account"),
  },
});

const refresh = createRoute({
  method: "post",
  path: "/refresh",
  tags: ["auth"],
  summary: "Trade a refresh token for new tokens (rotation)",
  description:
    "Answers a new access token and a NEW refresh token; the presented one stops working. Presenting a " +
    "refresh token that was already rotated or revoked revokes every token of that sign-in (401 " +
    "token_reused), so refresh from one place at a time: two concurrent refreshes with the same token " +
    "count as reuse.",
  middleware: [refreshLimit()] as const,
  request: { body: jsonBody(RefreshBody) },
  responses: {
    200: json(AuthTokensSchema, "New access and refresh tokens"),
    ...errors({
      400: "Invalid body",
      401: "invalid_token (unknown), token_expired, or token_reused (the whole sign-in is now revoked)",
      415: "Body is not JSON",
    }),
    ...rateLimited("per client address"),
  },
});

const logout = createRoute({
  method: "post",
  path: "/logout",
  tags: ["auth"],
  summary: "Sign out: revoke this sign-in's refresh tokens",
  description:
    "Revokes the refresh token's whole family (idempotent; an unknown token is answered the same). Access " +
    "tokens already issued stay valid until they expire (at most 15 minutes).",
  request: { body: jsonBody(LogoutBody) },
  responses: {
    204: { description: "Signed out (also for an unknown or already revoked token)" },
    ...errors({ 400: "Invalid body", 415: "Body is not JSON" }),
  },
});

const logoutAll = createRoute({
  method: "post",
  path: "/logout-all",
  tags: ["auth"],
  summary: "Sign out everywhere: revoke every refresh token of the signed-in user",
  description: "Access tokens already issued stay valid until they expire (at most 15 minutes).",
  security: userSecurity,
  middleware: [requireUser()] as const,
  responses: {
    204: { description: "Every sign-in of this user is revoked" },
    ...errors({ 401: "Not signed in" }),
  },
});

const invalidCredentials = () => new HttpError(401, "invalid_credentials", "email or password is incorrect");

const REFUSALS: Record<RefreshRefusal, string> = {
  invalid_token: "refresh token is not valid",
  token_expired: "refresh token has expired; sign in again",
  token_reused:
    "refresh token was already used; every session of this sign-in has been revoked, sign in again",
};

/** /v1/auth: signup, login, refresh (rotation with reuse detection), logout and logout-all. */
export const authRoutes = new OpenAPIHono<AppEnv>()
  .openapi(signup, async (c) => {
    const { email, password } = c.req.valid("json");
    const weakness = passwordWeakness(password, email);
    if (weakness) throw new HttpError(400, "weak_password", weakness);
    const passwordHash = await hashPassword(password);
    const tokens = await c.var.db.transaction(async (tx) => {
      const [user] = await tx
        .insert(users)
        .values({ email, passwordHash })
        .onConflictDoNothing({ target: users.email })
        .returning({ id: users.id, email: users.email });
      return user ? issueTokens(tx, user, c.var.config.jwtSecret) : null;
    });
    if (!tokens) throw new HttpError(409, "email_taken", "an account with this email already exists");
    return c.json(tokens, 201);
  })
  .openapi(login, async (c) => {
    const { email, password } = c.req.valid("json");
    const [user] = await c.var.db.select().from(users).where(eq(users.email, email)).limit(1);
    // Unknown email: same PBKDF2 work and the same answer as a wrong password.
    const ok = user ? await verifyPassword(password, user.passwordHash) : await verifyAgainstDummy(password);
    if (!user || !ok) throw invalidCredentials();
    return c.json(await issueTokens(c.var.db, user, c.var.config.jwtSecret), 200);
  })
  .openapi(refresh, async (c) => {
    const { refreshToken } = c.req.valid("json");
    const result = await rotateRefreshToken(c.var.db, refreshToken, c.var.config.jwtSecret);
    if ("refused" in result) throw new HttpError(401, result.refused, REFUSALS[result.refused]);
    return c.json(result.tokens, 200);
  })
  .openapi(logout, async (c) => {
    const { refreshToken } = c.req.valid("json");
    await revokeFamilyOf(c.var.db, refreshToken);
    return c.body(null, 204);
  })
  .openapi(logoutAll, async (c) => {
    await revokeAllOf(c.var.db, c.var.userId);
    return c.body(null, 204);
  });
