import type { Context, MiddlewareHandler } from "hono";
import type { Config } from "../config.ts";
import type { AppEnv } from "../env.ts";
import { HttpError } from "../errors.ts";
import { ipKey, LOCAL_KEY } from "./keys.ts";
import type { RateDecision, RateRule } from "./window.ts";

/** Where counters live: the RATE_LIMITER Durable Objects in the Worker, a fake in unit tests. */
export interface Limiter {
  consume(counter: string, rule: RateRule): Promise<RateDecision>;
  reset(counter: string): Promise<void>;
}

export type RateLimitOptions = {
  /** What is limited ("signup", "login", ...): part of every counter's name, so limits never share one. */
  name: string;
  /** The limit that applies to this request (usually from the config); null turns it off. */
  rule: (c: Context<AppEnv>) => RateRule | null;
  /** Whose counter the request hits; null lets it through uncounted. Default: the client's address. */
  key?: (c: Context<AppEnv>) => string | null | Promise<string | null>;
  /**
   * Clears the counter after a response this returns true for. With `(res) => res.ok` only failures stay
   * counted (a request is counted up front, so parallel guesses cannot all slip past, and wiped on success).
   */
  resetWhen?: (res: Response) => boolean;
  /**
   * Over the limit, still runs the request and keeps a response this returns true for (a correct
   * password: the owner is never locked out by others' failures); any other response becomes the 429.
   * Default: a request over the limit is refused before it runs.
   */
  keepWhenOver?: (res: Response) => boolean;
  /** Start of the 429's message; "; try again in N seconds" is added. */
  message?: string;
  /** Default: the RATE_LIMITER namespace; none (a test env without it) means no limit. */
  limiter?: (c: Context<AppEnv>) => Limiter | null;
};

/**
 * The client's address key: CF-Connecting-IP (see ipKey) where the config trusts it, else the shared
 * local key. Under `wrangler dev` a header the client sent reaches the Worker untouched, so trusting it
 * there would hand every request a fresh counter of its choosing.
 */
export const byClientIp = (c: {
  var: { readonly config?: Config | undefined };
  req: { header(name: string): string | undefined };
}) => (c.var.config?.trustCfConnectingIp ? ipKey(c.req.header("cf-connecting-ip")) : LOCAL_KEY);

/**
 * Counts requests per key in a sliding window and answers 429 `rate_limited` with `Retry-After` once a
 * key is over its limit. If the counter cannot be reached the request goes through (logged): an outage of
 * the limiter must not take sign-in down with it.
 */
export function rateLimit(options: RateLimitOptions): MiddlewareHandler<AppEnv> {
  const keyOf: NonNullable<RateLimitOptions["key"]> = options.key ?? byClientIp;
  const limiterOf = options.limiter ?? defaultLimiter;
  const message = options.message ?? "too many requests";
  return async function rateLimit(c, next) {
    const rule = options.rule(c);
    const limiter = rule ? limiterOf(c) : null;
    const key = rule && limiter ? await keyOf(c) : null;
    if (!rule || !limiter || key === null) return next();

    const counter = `${options.name}:${key}`;
    let decision: RateDecision | null = null;
    try {
      decision = await limiter.consume(counter, rule);
    } catch (error) {
      console.error(`rate limit "${options.name}" unavailable, request let through:`, error);
    }
    const refusal = (seconds: number) =>
      new HttpError(429, "rate_limited", `${message}; try again in ${seconds} seconds`, {
        "Retry-After": String(seconds),
      });
    if (decision && !decision.allowed && !options.keepWhenOver) throw refusal(decision.retryAfterSeconds);
    await next();
    if (decision && !decision.allowed && !options.keepWhenOver?.(c.res)) {
      throw refusal(decision.retryAfterSeconds);
    }
    if (decision && options.resetWhen?.(c.res)) {
      await limiter.reset(counter).catch((error: unknown) => {
        console.error(`rate limit "${options.name}" reset failed:`, error);
      });
    }
  };
}

/** Counters as RateLimiter Durable Objects, one per counter name. */
export function durableLimiter(namespace: Env["RATE_LIMITER"]): Limiter {
  const counter = (name: string) => namespace.get(namespace.idFromName(name));
  return {
    consume: (name, rule) => counter(name).consume(rule),
    reset: (name) => counter(name).reset(),
  };
}

let warned = false;

/** The RATE_LIMITER namespace as a Limiter; null (warned once) where the env has none (unit tests). */
export function defaultLimiter(c: Context<AppEnv>): Limiter | null {
  const namespace = c.env?.RATE_LIMITER as Env["RATE_LIMITER"] | undefined;
  if (namespace) return durableLimiter(namespace);
  if (!warned) {
    warned = true;
    console.warn("no RATE_LIMITER binding: rate limits are not applied");
  }
  return null;
}
