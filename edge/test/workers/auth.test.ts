import {
  createExecutionContext,
  runDurableObjectAlarm,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { type AuthTokens, ErrorEnvelope } from "@streamlet/shared";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { hashRefreshToken } from "../../src/auth/tokens.ts";
import { loadConfig } from "../../src/config.ts";
import { refreshTokens } from "../../src/db/schema.ts";
import worker from "../../src/index.ts";
import { edgeFetch, withDb } from "./helpers.ts";

const PASSWORD = "correct horse battery staple";
// The workers project's limits (workers-global-setup.ts), as the Worker reads them.
const limits = loadConfig(env).rateLimits;

const run = (crypto.getRandomValues(new Uint16Array(1))[0] ?? 0).toString(16);
let ipCounter = 0;
/** A client address (and /64) of its own, so no two tests share a per-address counter. */
function newIp() {
  ipCounter += 1;
  return `2001:db8:${run}:${ipCounter.toString(16)}::1`;
}

const newEmail = () => `auth-${crypto.randomUUID()}@example.com`;

/** POSTs JSON to an auth route from `ip`; the body parsed (null for 204). */
async function post(path: string, body: unknown, ip: string, headers: Record<string, string> = {}) {
  const res = await edgeFetch(`/v1/auth${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", "cf-connecting-ip": ip, ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? (JSON.parse(text) as unknown) : null };
}

function tokensOf(res: { status: number; json: unknown }, status = 200): AuthTokens {
  expect(res.status, JSON.stringify(res.json)).toBe(status);
  return res.json as AuthTokens;
}

function errorOf(res: { status: number; json: unknown }, status: number, code: string) {
  expect(res.status, JSON.stringify(res.json)).toBe(status);
  const { error } = ErrorEnvelope.parse(res.json);
  expect(error.code).toBe(code);
  return error;
}

/** A new account, signed up from its own address. */
async function signup(ip = newIp(), email = newEmail()) {
  return { email, ip, tokens: tokensOf(await post("/signup", { email, password: PASSWORD }, ip), 201) };
}

const refresh = (refreshToken: string, ip: string) => post("/refresh", { refreshToken }, ip);

/** Every row of the refresh token family `refreshToken` belongs to. */
async function familyRows(refreshToken: string) {
  const tokenHash = await hashRefreshToken(refreshToken);
  return withDb(async (db) => {
    const [row] = await db.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, tokenHash));
    if (!row) throw new Error("no such refresh token");
    return db.select().from(refreshTokens).where(eq(refreshTokens.familyId, row.familyId));
  });
}

describe("refresh token rotation", () => {
  it("answers new tokens and a new refresh token each time; the presented one is replaced", async () => {
    const { ip, tokens: first } = await signup();
    const second = tokensOf(await refresh(first.refreshToken, ip));
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(second.user).toEqual(first.user);
    expect(second.accessToken.split(".")).toHaveLength(3);
    expect(second.expiresIn).toBe(15 * 60);
    const third = tokensOf(await refresh(second.refreshToken, ip));

    const rows = await familyRows(third.refreshToken);
    expect(rows).toHaveLength(3);
    const byHash = new Map(rows.map((row) => [row.tokenHash, row]));
    const [a, b, c] = await Promise.all(
      [first, second, third].map(async (t) => byHash.get(await hashRefreshToken(t.refreshToken))),
    );
    expect(a?.replacedById).toBe(b?.id);
    expect(b?.replacedById).toBe(c?.id);
    expect(c?.replacedById).toBeNull();
    expect(rows.every((row) => row.revokedAt === null)).toBe(true);
    // Only hashes are stored.
    expect(rows.some((row) => row.tokenHash === third.refreshToken)).toBe(false);
  });

  it("treats a rotated token presented again as theft: 401 token_reused, and the newest token dies too", async () => {
    const { ip, tokens: first } = await signup();
    const second = tokensOf(await refresh(first.refreshToken, ip));
    // The rightful client has rotated; a thief now replays the old token.
    const error = errorOf(await refresh(first.refreshToken, newIp()), 401, "token_reused");
    expect(error.message).toMatch(/revoked/);
    errorOf(await refresh(second.refreshToken, ip), 401, "token_reused");
    const rows = await familyRows(second.refreshToken);
    expect(rows.every((row) => row.revokedAt !== null)).toBe(true);
  });

  it("lets exactly one of two concurrent refreshes with the same token win; the other counts as reuse", async () => {
    for (let round = 0; round < 3; round++) {
      const { ip, tokens } = await signup();
      const answers = await Promise.all([refresh(tokens.refreshToken, ip), refresh(tokens.refreshToken, ip)]);
      const statuses = answers.map((a) => a.status).sort();
      expect(statuses).toEqual([200, 401]);
      const loser = answers.find((a) => a.status === 401);
      expect(ErrorEnvelope.parse(loser?.json).error.code).toBe("token_reused");
      // Reuse revokes the family, so the winner's new token is dead as well: sign in again.
      const winner = answers.find((a) => a.status === 200)?.json as AuthTokens;
      errorOf(await refresh(winner.refreshToken, ip), 401, "token_reused");
      const rows = await familyRows(tokens.refreshToken);
      expect(rows).toHaveLength(2); // the loser's would-be token was rolled back
    }
  });

  it("answers 401 token_expired for an expired token and invalid_token for an unknown one", async () => {
    const { ip, tokens } = await signup();
    const tokenHash = await hashRefreshToken(tokens.refreshToken);
    await withDb((db) =>
      db
        .update(refreshTokens)
        .set({ expiresAt: new Date(Date.now() - 1000) })
        .where(eq(refreshTokens.tokenHash, tokenHash)),
    );
    errorOf(await refresh(tokens.refreshToken, ip), 401, "token_expired");
    errorOf(await refresh("not-a-token-we-issued", ip), 401, "invalid_token");
    errorOf(await post("/refresh", {}, ip), 400, "invalid_request");
    errorOf(await post("/refresh", { refreshToken: "" }, ip), 400, "invalid_request");
    errorOf(await post("/refresh", { refreshToken: "x".repeat(513) }, ip), 400, "invalid_request");
  });
});

describe("logout", () => {
  it("revokes the sign-in's tokens (204), is idempotent, and says the same for unknown tokens", async () => {
    const { ip, email, tokens: first } = await signup();
    const rotated = tokensOf(await refresh(first.refreshToken, ip));
    const other = tokensOf(await post("/login", { email, password: PASSWORD }, ip));

    const out = await post("/logout", { refreshToken: rotated.refreshToken }, ip);
    expect(out).toMatchObject({ status: 204, json: null });
    errorOf(await refresh(rotated.refreshToken, ip), 401, "token_reused");
    expect((await post("/logout", { refreshToken: rotated.refreshToken }, ip)).status).toBe(204);
    expect((await post("/logout", { refreshToken: "never-issued" }, ip)).status).toBe(204);
    errorOf(await post("/logout", { token: "x" }, ip), 400, "invalid_request");

    // Another sign-in (its own family) is untouched.
    tokensOf(await refresh(other.refreshToken, ip));
  });

  it("logout-all revokes every sign-in of the user and needs an access token", async () => {
    const { ip, email, tokens: first } = await signup();
    const second = tokensOf(await post("/login", { email, password: PASSWORD }, ip));
    const stranger = await signup();

    errorOf(await post("/logout-all", undefined, ip), 401, "unauthorized");
    const out = await post("/logout-all", undefined, ip, { authorization: `Bearer ${second.accessToken}` });
    expect(out.status).toBe(204);
    for (const t of [first, second]) errorOf(await refresh(t.refreshToken, ip), 401, "token_reused");
    tokensOf(await refresh(stranger.tokens.refreshToken, stranger.ip));
  });
});

describe("rate limits", () => {
  it("answers 429 rate_limited with Retry-After once one address has signed up the limit's worth", async () => {
    const rule = limits.signup;
    if (!rule) throw new Error("the workers project must set RATE_LIMIT_SIGNUP");
    const ip = newIp();
    for (let i = 0; i < rule.limit; i++) await signup(ip);
    const refused = await post("/signup", { email: newEmail(), password: PASSWORD }, ip);
    const error = errorOf(refused, 429, "rate_limited");
    expect(error.message).toMatch(/^too many sign-up attempts from your network; try again in \d+ seconds$/);
    const retryAfter = Number(refused.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(rule.windowSeconds - 60);
    expect(retryAfter).toBeLessThanOrEqual(rule.windowSeconds);
    // Another address, and the same /64 written differently counts as the same client.
    await signup(newIp());
    errorOf(
      await post("/signup", { email: newEmail(), password: PASSWORD }, ip.replace("::1", "::2")),
      429,
      "rate_limited",
    );
  });

  it("limits logins per address, failed or not", async () => {
    const rule = limits.login;
    if (!rule) throw new Error("the workers project must set RATE_LIMIT_LOGIN");
    const { email } = await signup();
    const ip = newIp();
    for (let i = 0; i < rule.limit; i++) {
      expect((await post("/login", { email, password: PASSWORD }, ip)).status).toBe(200);
    }
    errorOf(await post("/login", { email, password: PASSWORD }, ip), 429, "rate_limited");
    expect((await post("/login", { email, password: PASSWORD }, newIp())).status).toBe(200);
  });

  it("keys per-address limits on CF-Connecting-IP only where TRUST_CF_CONNECTING_IP is true", async () => {
    // The Worker itself with the env a compose edge has: `wrangler dev` passes on a header the client
    // chose, so a fresh address per request must not mean a fresh counter.
    const rule = limits.login;
    if (!rule) throw new Error("the workers project must set RATE_LIMIT_LOGIN");
    const { email } = await signup();
    const attempts = async (trust: "true" | "false") => {
      const statuses: number[] = [];
      for (let i = 0; i <= rule.limit; i++) {
        const request = new Request("https://edge.test/v1/auth/login", {
          method: "POST",
          headers: { "content-type": "application/json", "cf-connecting-ip": newIp() },
          body: JSON.stringify({ email, password: PASSWORD }),
        });
        const ctx = createExecutionContext();
        const res = await worker.fetch(request, { ...env, TRUST_CF_CONNECTING_IP: trust }, ctx);
        await waitOnExecutionContext(ctx);
        statuses.push(res.status);
      }
      return statuses;
    };
    expect(await attempts("true")).not.toContain(429);
    const untrusted = await attempts("false");
    expect(untrusted).toContain(429);
    expect(untrusted.at(-1)).toBe(429);
  });

  it("refuses wrong passwords for an account after too many failures from any address, never the right one", async () => {
    const rule = limits.loginFailures;
    if (!rule) throw new Error("the workers project must set RATE_LIMIT_LOGIN_FAILURES");
    const { email } = await signup();
    const neighbour = await signup();
    // The measured attack: ten (here: the limit's worth of) wrong passwords, each from its own address.
    for (let i = 0; i < rule.limit; i++) {
      errorOf(
        await post("/login", { email, password: `wrong password ${i}` }, newIp()),
        401,
        "invalid_credentials",
      );
    }
    // Over the limit a wrong password is refused with 429 (the email's spelling does not matter: the key
    // is the normalised address) ...
    const refused = await post("/login", { email: email.toUpperCase(), password: "still wrong" }, newIp());
    const error = errorOf(refused, 429, "rate_limited");
    expect(error.message).toMatch(/^too many failed sign-in attempts for this account/);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    // ... while the owner's right password, from yet another address, signs in and clears the count.
    tokensOf(await post("/login", { email: email.toUpperCase(), password: PASSWORD }, newIp()));
    errorOf(await post("/login", { email, password: "wrong again" }, newIp()), 401, "invalid_credentials");
    // Other accounts are not affected; unknown emails are limited the same way (no hint they don't exist).
    expect((await post("/login", { email: neighbour.email, password: PASSWORD }, newIp())).status).toBe(200);
    const ghost = newEmail();
    for (let i = 0; i < rule.limit; i++) {
      errorOf(
        await post("/login", { email: ghost, password: PASSWORD }, newIp()),
        401,
        "invalid_credentials",
      );
    }
    errorOf(await post("/login", { email: ghost, password: PASSWORD }, newIp()), 429, "rate_limited");
  });

  it("counts only failures per account: a successful login clears them", async () => {
    const rule = limits.loginFailures;
    if (!rule) throw new Error("the workers project must set RATE_LIMIT_LOGIN_FAILURES");
    const { email } = await signup();
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < rule.limit - 1; i++) {
        errorOf(
          await post("/login", { email, password: "not the password" }, newIp()),
          401,
          "invalid_credentials",
        );
      }
      expect((await post("/login", { email, password: PASSWORD }, newIp())).status).toBe(200);
    }
  });

  it("limits refreshes per address", async () => {
    const rule = limits.refresh;
    if (!rule) throw new Error("the workers project must set RATE_LIMIT_REFRESH");
    let { tokens } = await signup();
    const ip = newIp();
    for (let i = 0; i < rule.limit; i++) tokens = tokensOf(await refresh(tokens.refreshToken, ip));
    errorOf(await refresh(tokens.refreshToken, ip), 429, "rate_limited");
    // Refused before the token was looked at: it still works from elsewhere.
    tokensOf(await refresh(tokens.refreshToken, newIp()));
  });

  it("keeps a counter in one Durable Object per limit and key, emptied by its alarm", async () => {
    const stub = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(`test:${crypto.randomUUID()}`));
    const rule = { limit: 2, windowSeconds: 60 };
    expect(await stub.consume(rule)).toEqual({ allowed: true, remaining: 1, retryAfterSeconds: 0 });
    expect(await stub.consume(rule)).toEqual({ allowed: true, remaining: 0, retryAfterSeconds: 0 });
    expect(await stub.consume(rule)).toMatchObject({ allowed: false, remaining: 0 });
    const alarm = await runInDurableObject(stub, (_, state) => state.storage.getAlarm());
    expect(alarm).toBeGreaterThan(Date.now() + 50_000);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await runInDurableObject(stub, (_, state) => state.storage.kv.get("hits"))).toBeUndefined();
    expect(await stub.consume(rule)).toMatchObject({ allowed: true });
    await stub.reset();
    expect(await runInDurableObject(stub, (_, state) => state.storage.kv.get("hits"))).toBeUndefined();
  });
});

describe("password rules at signup", () => {
  it.each([
    ["the email address", (email: string) => email, /must not contain your email address/],
    [
      "the email's name part",
      (email: string) => email.split("@")[0] ?? "",
      /part of your email address before the @/,
    ],
    ["a common password", () => "Password1234", /most commonly used passwords/],
  ])("refuses %s with 400 weak_password saying why", async (_, password, message) => {
    const email = newEmail();
    const error = errorOf(
      await post("/signup", { email, password: password(email) }, newIp()),
      400,
      "weak_password",
    );
    expect(error.message).toMatch(message);
  });

  it("names the length rule for a short password", async () => {
    const error = errorOf(
      await post("/signup", { email: newEmail(), password: "short" }, newIp()),
      400,
      "invalid_request",
    );
    expect(error.message).toContain("password: must be at least 10 characters");
  });
});
