import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { type AuthTokens, LoginBody, SignupBody } from "@streamlet/shared";
import { eq } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { refreshTokens, users } from "../db/schema.ts";
import type { AppEnv } from "../env.ts";
import { HttpError } from "../errors.ts";
import { AuthTokensSchema, errors, json, jsonBody } from "../openapi.ts";
import { hashPassword, verifyAgainstDummy, verifyPassword } from "./password.ts";
import { ACCESS_TOKEN_SECONDS, newRefreshToken, signAccessToken } from "./tokens.ts";

const signup = createRoute({
  method: "post",
  path: "/signup",
  tags: ["auth"],
  summary: "Create an account",
  request: { body: jsonBody(SignupBody) },
  responses: {
    201: json(AuthTokensSchema, "Account created; signed in"),
    ...errors({ 400: "Invalid body", 409: "email_taken", 415: "Body is not JSON" }),
  },
});

const login = createRoute({
  method: "post",
  path: "/login",
  tags: ["auth"],
  summary: "Sign in with email and password",
  request: { body: jsonBody(LoginBody) },
  responses: {
    200: json(AuthTokensSchema, "Signed in"),
    ...errors({ 400: "Invalid body", 401: "invalid_credentials", 415: "Body is not JSON" }),
  },
});

const invalidCredentials = () => new HttpError(401, "invalid_credentials", "email or password is incorrect");

/** /v1/auth: signup and login, both answering with an access token and a refresh token. */
export const authRoutes = new OpenAPIHono<AppEnv>()
  .openapi(signup, async (c) => {
    const { email, password } = c.req.valid("json");
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
  });

type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];

/** Signs an access token and stores the hash of a new refresh token (a new token family per login). */
async function issueTokens(
  db: Db | Tx,
  user: { id: string; email: string },
  secret: string,
): Promise<AuthTokens> {
  const refresh = await newRefreshToken();
  await db
    .insert(refreshTokens)
    .values({ userId: user.id, tokenHash: refresh.tokenHash, expiresAt: refresh.expiresAt });
  return {
    user: { id: user.id, email: user.email },
    accessToken: await signAccessToken(user.id, secret),
    expiresIn: ACCESS_TOKEN_SECONDS,
    refreshToken: refresh.token,
  };
}
