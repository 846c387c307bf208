/** A limit: at most `limit` requests in any `windowSeconds`-long stretch of time. */
export type RateRule = Readonly<{ limit: number; windowSeconds: number }>;

/** What a counter answers: may this request go ahead, and if not, how long until one may. */
export type RateDecision = {
  allowed: boolean;
  /** Requests still allowed in the current window after this one. */
  remaining: number;
  /** Seconds until the next request would be allowed (0 when this one was). */
  retryAfterSeconds: number;
};

/** Upper bounds that keep a counter's stored log small (one timestamp per allowed request). */
export const MAX_LIMIT = 10_000;
export const MAX_WINDOW_SECONDS = 7 * 24 * 60 * 60;

/** True for a rule a counter can apply (whole numbers within the bounds above). */
export function isRateRule(rule: unknown): rule is RateRule {
  if (typeof rule !== "object" || rule === null) return false;
  const { limit, windowSeconds } = rule as Record<string, unknown>;
  return (
    Number.isInteger(limit) &&
    (limit as number) >= 1 &&
    (limit as number) <= MAX_LIMIT &&
    Number.isInteger(windowSeconds) &&
    (windowSeconds as number) >= 1 &&
    (windowSeconds as number) <= MAX_WINDOW_SECONDS
  );
}

/**
 * The sliding-log step, pure so it can be tested without a runtime: `hits` are the (ascending) times in
 * ms of the requests already let through. Hits older than the window drop out; the request is allowed
 * while fewer than `limit` remain, and then recorded. A refused request is not recorded, so hammering a
 * closed limit does not push the reopening further away. The log never holds more than `limit` entries.
 */
export function slide(
  hits: readonly number[],
  now: number,
  rule: RateRule,
): RateDecision & { hits: number[] } {
  const windowMs = rule.windowSeconds * 1000;
  const live = hits.filter((at) => at > now - windowMs);
  if (live.length < rule.limit) {
    live.push(now);
    return { allowed: true, remaining: rule.limit - live.length, retryAfterSeconds: 0, hits: live };
  }
  // Room for one more once all but limit - 1 of the live hits have aged out (more than `limit` live hits
  // happen only after the limit was lowered).
  const freedAt = (live[live.length - rule.limit] ?? now) + windowMs;
  const retryAfterSeconds = Math.max(1, Math.ceil((freedAt - now) / 1000));
  return { allowed: false, remaining: 0, retryAfterSeconds, hits: live };
}

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

/**
 * Parses a limit as written in a var: `<count>/<window>`, the window in seconds or with a unit
 * (`5/1h`, `20/15m`, `60/900`, `100/30s`, `1000/1d`), or `off` (null: no limit).
 */
export function parseRateRule(text: string): { rule: RateRule | null } | { error: string } {
  const trimmed = text.trim().toLowerCase();
  if (trimmed === "off") return { rule: null };
  const match = /^(\d{1,6})\s*\/\s*(\d{1,7})\s*([smhd]?)$/.exec(trimmed);
  if (!match) return { error: 'must look like "20/15m" (count/window, window in s, m, h or d) or "off"' };
  const [, count = "", amount = "", unit = ""] = match;
  const rule = {
    limit: Number(count),
    windowSeconds: Number(amount) * UNIT_SECONDS[(unit || "s") as keyof typeof UNIT_SECONDS],
  };
  if (!isRateRule(rule)) {
    return {
      error: `count must be 1-${MAX_LIMIT} and the window 1 s to ${MAX_WINDOW_SECONDS / 86_400} days`,
    };
  }
  return { rule };
}
