import type { VideoStatus } from "@streamlet/shared";
import { describe, expect, it } from "vitest";
import { decideTransition, type TranscodeStatus } from "../src/videos/transitions.ts";

type Report = TranscodeStatus;

const table: Array<[VideoStatus, Report, "apply" | "noop" | "reject"]> = [
  ["awaiting_upload", "processing", "reject"],
  ["awaiting_upload", "ready", "reject"],
  ["awaiting_upload", "failed", "reject"],
  ["queued", "processing", "apply"],
  ["queued", "ready", "apply"],
  ["queued", "failed", "apply"],
  ["processing", "processing", "noop"], // a retried job reports processing again
  ["processing", "ready", "apply"],
  ["processing", "failed", "apply"],
  ["ready", "processing", "reject"],
  ["ready", "ready", "noop"],
  ["ready", "failed", "reject"],
  ["failed", "processing", "reject"],
  ["failed", "ready", "reject"],
  ["failed", "failed", "noop"],
];

describe("decideTransition", () => {
  it.each(table)("%s + %s → %s", (current, report, expected) => {
    const decision = decideTransition(current, report);
    expect(decision.kind).toBe(expected);
    if (decision.kind === "apply") expect(decision.from).toContain(current);
    if (decision.kind === "reject") expect(decision.message).toContain(current);
  });

  it("applies conditionally on every allowed source state, never on the target itself", () => {
    for (const report of ["processing", "ready", "failed"] as const) {
      const decision = decideTransition("queued", report);
      expect(decision.kind === "apply" && decision.from.includes(report)).toBe(false);
    }
  });
});
