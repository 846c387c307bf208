import type { StatusReport, VideoStatus } from "@streamlet/shared";

/** What to do with a transcoder status report given the video's current status. */
export type TransitionDecision =
  | { kind: "apply"; from: readonly VideoStatus[] }
  | { kind: "noop" }
  | { kind: "reject"; message: string };

const ALLOWED_FROM: Record<StatusReport["status"], readonly VideoStatus[]> = {
  processing: ["queued"],
  ready: ["queued", "processing"],
  failed: ["queued", "processing"],
};

/**
 * Decides a status report against the stored status: allowed moves are applied (conditionally on
 * `from`, so a concurrent change loses instead of being overwritten); a report of the status already
 * stored is a no-op, so a transcoder retry (BullMQ attempt 2 reports "processing" again, a lost
 * response makes it resend "ready") succeeds; anything else is rejected.
 */
export function decideTransition(current: VideoStatus, report: StatusReport["status"]): TransitionDecision {
  const from = ALLOWED_FROM[report];
  if (from.includes(current)) return { kind: "apply", from };
  if (current === report) return { kind: "noop" };
  return { kind: "reject", message: `cannot move a video from ${current} to ${report}` };
}
