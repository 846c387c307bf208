import { describe, expect, it } from "vitest";
import { DEFAULT_NVENC_SESSION_LIMIT, jobConcurrency, SessionBudget } from "../src/nvenc-budget.ts";

describe("jobConcurrency", () => {
  it.each([
    // encoder, sessionLimit, rungsPerJob, requested → jobs
    ["nvenc", 8, 3, 4, 2],
    ["nvenc", 8, 4, 4, 2],
    ["nvenc", 8, 5, 4, 1],
    ["nvenc", 3, 5, 2, 1], // never below 1 (the job's encoder open fails rather than never running)
    ["nvenc", 64, 3, 4, 4], // never above what was asked
    ["nvenc", 8, 1, 16, 8],
    ["nvenc", 8, 0, 2, 2], // a degenerate ladder size counts as 1 session
    ["x264", 8, 5, 6, 6], // sessions don't limit the CPU path
    ["x264", 1, 5, 0, 1],
  ] as const)(
    "%s limit %i, %i rungs, %i requested → %i",
    (encoder, sessionLimit, rungsPerJob, requested, jobs) => {
      expect(jobConcurrency({ encoder, sessionLimit, rungsPerJob, requested })).toBe(jobs);
    },
  );

  it("defaults to the consumer-driver cap of 8", () => {
    expect(DEFAULT_NVENC_SESSION_LIMIT).toBe(8);
  });
});

describe("SessionBudget", () => {
  it("hands out sessions up to the limit, then queues until release", async () => {
    const budget = new SessionBudget(8);
    await budget.acquire(3);
    await budget.acquire(3);
    expect(budget.inUse).toBe(6);
    let third = false;
    const waiting = budget.acquire(3).then(() => {
      third = true;
    });
    await Promise.resolve();
    expect(third).toBe(false);
    expect(budget.waiting).toBe(1);
    budget.release(3);
    await waiting;
    expect(third).toBe(true);
    expect(budget.inUse).toBe(6);
  });

  it("a job with fewer rungs takes fewer sessions and fits where a full ladder wouldn't", async () => {
    const budget = new SessionBudget(8);
    await budget.acquire(5);
    await budget.acquire(2);
    expect(budget.inUse).toBe(7);
  });

  it("is first come, first served: a small request doesn't overtake a waiting big one", async () => {
    const budget = new SessionBudget(4);
    await budget.acquire(3);
    const order: string[] = [];
    const big = budget.acquire(3).then(() => order.push("big"));
    const small = budget.acquire(1).then(() => order.push("small"));
    await Promise.resolve();
    expect(order).toEqual([]);
    budget.release(3);
    await Promise.all([big, small]);
    expect(order).toEqual(["big", "small"]);
    expect(budget.inUse).toBe(4);
  });

  it("clamps a request above the limit so it runs alone instead of waiting forever", async () => {
    const budget = new SessionBudget(3);
    await budget.acquire(5);
    expect(budget.inUse).toBe(3);
    budget.release(5);
    expect(budget.inUse).toBe(0);
  });

  it("an aborted waiter leaves the queue and lets the next one in", async () => {
    const budget = new SessionBudget(2);
    await budget.acquire(2);
    const controller = new AbortController();
    const aborted = budget.acquire(2, controller.signal);
    const next = budget.acquire(1);
    controller.abort(new Error("job cancelled"));
    await expect(aborted).rejects.toThrow("job cancelled");
    expect(budget.waiting).toBe(1);
    budget.release(2);
    await next;
    expect(budget.inUse).toBe(1);
  });

  it("run() releases on failure too", async () => {
    const budget = new SessionBudget(4);
    await expect(
      budget.run(3, async () => {
        expect(budget.inUse).toBe(3);
        throw new Error("ffmpeg failed");
      }),
    ).rejects.toThrow("ffmpeg failed");
    expect(budget.inUse).toBe(0);
  });

  it("refuses nonsense", () => {
    expect(() => new SessionBudget(0)).toThrow(RangeError);
    const budget = new SessionBudget(2);
    expect(() => budget.release(1)).toThrow(/only 0 are held/);
    expect(() => budget.acquire(0)).toThrow(RangeError);
  });
});
