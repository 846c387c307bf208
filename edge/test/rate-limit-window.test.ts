import { describe, expect, it } from "vitest";
import { isRateRule, MAX_LIMIT, parseRateRule, slide } from "../src/rate-limit/window.ts";

const rule = { limit: 3, windowSeconds: 60 };

/** Runs requests at the given times (ms) through one log; returns each decision. */
function run(times: number[], r = rule) {
  let hits: number[] = [];
  return times.map((now) => {
    const decision = slide(hits, now, r);
    hits = decision.hits;
    return decision;
  });
}

describe("slide (sliding-log window)", () => {
  it("allows `limit` requests, then refuses with the seconds until the oldest one ages out", () => {
    const [a, b, c, d] = run([0, 10_000, 20_000, 30_000]);
    expect([a, b, c].map((x) => x?.allowed)).toEqual([true, true, true]);
    expect([a, b, c].map((x) => x?.remaining)).toEqual([2, 1, 0]);
    expect(d).toMatchObject({ allowed: false, remaining: 0, retryAfterSeconds: 30 });
  });

  it("reopens exactly when the oldest hit leaves the window (a hit at t counts until t + window)", () => {
    const decisions = run([0, 1, 2, 59_999, 60_000]);
    expect(decisions.map((x) => x.allowed)).toEqual([true, true, true, false, true]);
    expect(decisions[3]?.retryAfterSeconds).toBe(1);
  });

  it("is sliding, not fixed: a burst at the end of one window still counts at the start of the next", () => {
    const decisions = run([59_000, 59_500, 59_900, 61_000]);
    expect(decisions.map((x) => x.allowed)).toEqual([true, true, true, false]);
    expect(decisions[3]?.retryAfterSeconds).toBe(58);
  });

  it("does not record refused requests, so hammering does not push the reopening further away", () => {
    const decisions = run([0, 0, 0, 1000, 2000, 3000, 60_000]);
    expect(decisions.map((x) => x.allowed)).toEqual([true, true, true, false, false, false, true]);
    expect(decisions.at(-2)?.retryAfterSeconds).toBe(57);
    expect(decisions.at(-1)?.hits).toEqual([60_000]);
  });

  it("never keeps more than `limit` hits and drops expired ones", () => {
    const decisions = run(Array.from({ length: 50 }, (_, i) => i * 5000));
    for (const decision of decisions) expect(decision.hits.length).toBeLessThanOrEqual(rule.limit);
  });

  it("rounds Retry-After up and never answers 0 for a refusal", () => {
    const [, , , refused] = run([0, 0, 0, 59_999.5]);
    expect(refused?.retryAfterSeconds).toBe(1);
    const [, later] = run([0, 100], { limit: 1, windowSeconds: 3600 });
    expect(later?.retryAfterSeconds).toBe(3600);
  });

  it("waits for enough hits to age out after the limit was lowered", () => {
    const hits = [0, 10_000, 20_000, 30_000, 40_000];
    expect(slide(hits, 45_000, { limit: 2, windowSeconds: 60 })).toMatchObject({
      allowed: false,
      retryAfterSeconds: 45, // the 4th-newest (30 s) must leave: 30 + 60 - 45
    });
  });
});

describe("parseRateRule", () => {
  it.each([
    ["5/1h", { limit: 5, windowSeconds: 3600 }],
    ["20/15m", { limit: 20, windowSeconds: 900 }],
    ["60/900", { limit: 60, windowSeconds: 900 }],
    ["100/30s", { limit: 100, windowSeconds: 30 }],
    ["1000/1d", { limit: 1000, windowSeconds: 86_400 }],
    [" 10 / 15M ", { limit: 10, windowSeconds: 900 }],
  ])("reads %j", (text, expected) => {
    expect(parseRateRule(text)).toEqual({ rule: expected });
  });

  it('reads "off" as no limit', () => {
    expect(parseRateRule("off")).toEqual({ rule: null });
    expect(parseRateRule("OFF")).toEqual({ rule: null });
  });

  it.each([
    "",
    "5",
    "5/",
    "/1h",
    "five/1h",
    "5/1w",
    "-1/1h",
    "1.5/1h",
    "0/1h",
    "5/0s",
    `${MAX_LIMIT + 1}/1h`,
    "5/8d",
  ])("refuses %j with a message", (text) => {
    const parsed = parseRateRule(text);
    expect(parsed).toHaveProperty("error");
    expect((parsed as { error: string }).error.length).toBeGreaterThan(10);
  });

  it("agrees with isRateRule", () => {
    expect(isRateRule({ limit: 1, windowSeconds: 1 })).toBe(true);
    for (const bad of [null, 5, {}, { limit: 0, windowSeconds: 1 }, { limit: 1, windowSeconds: 0.5 }]) {
      expect(isRateRule(bad)).toBe(false);
    }
  });
});
