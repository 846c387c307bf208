/**
 * What a video's transcode looks like to its owner, folded from the progress socket's events (pure, so
 * it is tested without a socket). Unknown event types keep the view as it was.
 */
import type { ProgressEvent } from "@streamlet/shared/progress-client";

export type Phase =
  | "awaiting_upload"
  | "queued"
  | "downloading"
  | "probing"
  | "transcoding"
  | "uploading"
  | "ready"
  | "failed";

export interface Rung {
  name: string;
  height: number;
  percent: number;
}

export interface ProgressView {
  phase: Phase;
  /** The whole job's percent while transcoding or publishing; null when unknown. */
  percent: number | null;
  rungs: Rung[];
  etaSeconds: number | null;
  /** The video can be watched (a `playable` event, or ready). */
  playable: boolean;
  failureReason: string | null;
}

/** The view before any event: from the video as the API last described it. */
export function initialView(video?: {
  status: Phase | "processing";
  failureReason?: string | null;
  playableAt?: string | null;
}): ProgressView {
  // "processing" before any event: the transcoder has it (its own events say which step).
  const phase = video?.status === "processing" ? "transcoding" : (video?.status ?? "queued");
  return {
    phase,
    percent: phase === "ready" ? 100 : null,
    rungs: [],
    etaSeconds: null,
    playable: phase === "ready" || (phase !== "failed" && Boolean(video?.playableAt)),
    failureReason: phase === "failed" ? (video?.failureReason ?? null) : null,
  };
}

/** The view after one more event. */
export function applyEvent(view: ProgressView, event: ProgressEvent): ProgressView {
  switch (event.type) {
    case "queued":
      // A queued event starts a run (the first, or a retry): nothing of the run before applies.
      return { ...initialView(), phase: "queued" };
    case "downloading":
      return { ...view, phase: view.phase === "transcoding" ? view.phase : "downloading" };
    case "probing":
      return { ...view, phase: "probing" };
    case "transcoding":
      return {
        ...view,
        phase: "transcoding",
        percent: event.percent,
        rungs: event.rungs.map((r) => ({ name: r.name, height: r.height, percent: r.percent })),
        etaSeconds: event.etaSeconds,
      };
    case "playable":
      return { ...view, playable: true };
    case "uploading":
      return {
        ...view,
        phase: "uploading",
        percent: event.percent,
        rungs: view.rungs.map((r) => ({ ...r, percent: 100 })),
        etaSeconds: null,
      };
    case "ready":
      return {
        ...view,
        phase: "ready",
        percent: 100,
        rungs: view.rungs.map((r) => ({ ...r, percent: 100 })),
        etaSeconds: null,
        playable: true,
        failureReason: null,
      };
    case "failed":
      // A failed run's partial output is not a video to send anyone to.
      return { ...view, phase: "failed", etaSeconds: null, playable: false, failureReason: event.reason };
    default:
      return view;
  }
}

/** One sentence for the status line. */
export function describeView(view: ProgressView): string {
  switch (view.phase) {
    case "awaiting_upload":
      return "Waiting for the upload to finish.";
    case "queued":
      return "Waiting for a transcoder…";
    case "downloading":
      return "Fetching the source…";
    case "probing":
      return "Checking the video…";
    case "transcoding":
      return view.playable ? "Transcoding: you can watch it already." : "Transcoding…";
    case "uploading":
      return "Publishing the renditions…";
    case "ready":
      return "Ready.";
    case "failed":
      return "Transcoding failed.";
  }
}

/** "about 2 min left" style text for an ETA in seconds. */
export function formatEta(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return "";
  if (seconds < 60) return `about ${Math.max(1, Math.round(seconds))} s left`;
  return `about ${Math.round(seconds / 60)} min left`;
}
