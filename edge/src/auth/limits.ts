import { Email } from "@streamlet/shared";
import type { Context } from "hono";
import type { AppEnv } from "../env.ts";
import { accountKey } from "../rate-limit/keys.ts";
import { rateLimit } from "../rate-limit/middleware.ts";

/** Sign-up attempts per client address (RATE_LIMIT_SIGNUP). */
export const signupLimit = () =>
  rateLimit({
    name: "signup",
    rule: (c) => c.var.config.rateLimits.signup,
    message: "too many sign-up attempts from your network",
  });

/** Login attempts per client address, failed or not (RATE_LIMIT_LOGIN). */
export const loginLimit = () =>
  rateLimit({
    name: "login",
    rule: (c) => c.var.config.rateLimits.login,
    message: "too many sign-in attempts from your network",
  });

/**
 * Failed logins per account, from any address (RATE_LIMIT_LOGIN_FAILURES): guessing one account's password
 * from many addresses. Keyed by the email whether or not it has an account (no hint either way), and
 * cleared by a successful login. Over the limit the password is still checked: the right one signs in (so
 * strangers' failures never lock the owner out; the per-address limit still applies), a wrong one is a 429.
 */
export const loginFailureLimit = () =>
  rateLimit({
    name: "login-failures",
    rule: (c) => c.var.config.rateLimits.loginFailures,
    key: emailKey,
    keepWhenOver: (res) => res.ok,
    resetWhen: (res) => res.ok,
    message: "too many failed sign-in attempts for this account",
  });

/** Refreshes per client address (RATE_LIMIT_REFRESH). */
export const refreshLimit = () =>
  rateLimit({
    name: "refresh",
    rule: (c) => c.var.config.rateLimits.refresh,
    message: "too many token refreshes from your network",
  });

/**
 * The account a login body names, normalised as the validator will (the route's validator runs after
 * this and reads the same cached body); null for a body that is not JSON or has no valid email.
 */
async function emailKey(c: Context<AppEnv>): Promise<string | null> {
  const body: unknown = await c.req.json().catch(() => null);
  if (typeof body !== "object" || body === null || !("email" in body)) return null;
  const email = Email.safeParse(body.email);
  return email.success ? accountKey(email.data) : null;
}
