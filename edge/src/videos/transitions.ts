import type { VideoStatus } from "@streamlet/shared";

/** The states the transcoder's progress can move a video into. */
export type TranscodeStatus = Extract<VideoStatus, "processing" | "ready" | "failed">;

/** What to do with a status the transcoder's progress implies, given the video's current status. */
export type TransitionDecision =
  | { kind: "apply"; from: readonly VideoStatus[] }
  | { kind: "noop" }
  | { kind: "reject"; message: string };

const ALLOWED_FROM: Record<TranscodeStatus, readonly VideoStatus[]> = {
  processing: ["queued"],
  ready: ["queued", "processing"],
  failed: ["queued", "processing"],
};

/**
 * Decides a transition against the stored status: allowed moves are applied (conditionally on `from`, so
 * a concurrent change loses instead of being overwritten); a move to the status already stored is a
 * no-op, so a repeat (a retried job starting again, a re-sent terminal event) succeeds; anything else
 * (a terminal state changing, progress for a video that was never queued) is rejected.
 */
export function decideTransition(current: VideoStatus, target: TranscodeStatus): TransitionDecision {
  const from = ALLOWED_FROM[target];
  if (from.includes(current)) return { kind: "apply", from };
  if (current === target) return { kind: "noop" };
  return { kind: "reject", message: `cannot move a video from ${current} to ${target}` };
}
