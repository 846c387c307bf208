import type { VideoStatus } from "@streamlet/shared";

/**
 * The video status machine: every status change (the owner's upload confirmation, the transcoder's
 * progress) is decided here and applied by changeStatus (change-status.ts), one path for all of them.
 */

/** What to do with a requested status, given the video's current status. */
export type TransitionDecision =
  | { kind: "apply"; from: readonly VideoStatus[] }
  | { kind: "noop" }
  | { kind: "reject"; message: string };

/** For each target status, the statuses a video may move into it from. */
const ALLOWED_FROM: Record<VideoStatus, readonly VideoStatus[]> = {
  // Back to awaiting_upload only when queueing the job failed (POST /uploaded's rollback).
  awaiting_upload: ["queued"],
  // The owner confirmed the upload (POST /uploaded), or retries a failed video (POST /retry).
  queued: ["awaiting_upload", "failed"],
  processing: ["queued"],
  ready: ["queued", "processing"],
  failed: ["queued", "processing"],
};

/**
 * Decides a transition against the stored status: allowed moves are applied (conditionally on `from`, so
 * a concurrent change loses instead of being overwritten); a move to the status already stored is a
 * no-op, so a repeat (a second upload confirmation, a retried job starting again, a re-sent terminal
 * event) succeeds; anything else (a terminal state changing, progress for a video that was never queued)
 * is rejected.
 */
export function decideTransition(current: VideoStatus, target: VideoStatus): TransitionDecision {
  const from = ALLOWED_FROM[target];
  if (from.includes(current)) return { kind: "apply", from };
  if (current === target) return { kind: "noop" };
  return { kind: "reject", message: `cannot move a video from ${current} to ${target}` };
}
