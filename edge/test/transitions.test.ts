import type { VideoStatus } from "@streamlet/shared";
import { describe, expect, it } from "vitest";
import { decideTransition } from "../src/videos/transitions.ts";

const STATUSES: readonly VideoStatus[] = ["awaiting_upload", "queued", "processing", "ready", "failed"];

// Every (current, target) pair: the whole table, so a new status or move has to be decided here.
const table: Record<VideoStatus, Record<VideoStatus, "apply" | "noop" | "reject">> = {
  awaiting_upload: {
    awaiting_upload: "noop",
    queued: "apply", // POST /uploaded
    processing: "reject",
    ready: "reject",
    failed: "reject",
  },
  queued: {
    awaiting_upload: "apply", // POST /uploaded could not enqueue: rolled back
    queued: "noop", // POST /uploaded again
    processing: "apply",
    ready: "apply",
    failed: "apply",
  },
  processing: {
    awaiting_upload: "reject",
    queued: "reject",
    processing: "noop", // a retried job reports processing again
    ready: "apply",
    failed: "apply",
  },
  ready: {
    awaiting_upload: "reject",
    queued: "reject",
    processing: "reject",
    ready: "noop",
    failed: "reject",
  },
  failed: {
    awaiting_upload: "reject",
    queued: "apply", // POST /retry
    processing: "reject",
    ready: "reject",
    failed: "noop",
  },
};

const cases = STATUSES.flatMap((current) =>
  STATUSES.map((target) => [current, target, table[current][target]] as const),
);

describe("decideTransition", () => {
  it.each(cases)("%s → %s: %s", (current, target, expected) => {
    const decision = decideTransition(current, target);
    expect(decision.kind).toBe(expected);
    if (decision.kind === "apply") expect(decision.from).toContain(current);
    if (decision.kind === "reject") expect(decision.message).toContain(current);
  });

  it("applies conditionally on every allowed source state, never on the target itself", () => {
    for (const target of STATUSES) {
      for (const current of STATUSES) {
        const decision = decideTransition(current, target);
        expect(decision.kind === "apply" && decision.from.includes(target)).toBe(false);
      }
    }
  });
});
