import {
  type ProgressClientError,
  type ProgressEvent,
  subscribeToProgress,
  type TerminalEvent,
} from "@streamlet/shared/progress-client";
import { useEffect, useId, useRef, useState } from "preact/hooks";
import { origin, session } from "../lib/api.ts";
import { applyEvent, describeView, formatEta, initialView, type Phase } from "./progress-view.ts";
import "./progress.css";

/**
 * A video's live transcode progress for its owner: status, a bar per rung, the failure's reason, and a
 * "Watch now" link from the moment the video can be watched. Follows the progress socket until the video
 * is ready or failed (the socket reconnects and resumes by itself).
 */
export function TranscodeProgress({
  videoId,
  video,
  onTerminal,
}: {
  videoId: string;
  /** The video as the API last described it (its status decides whether there is anything to follow). */
  video?: { status: Phase | "processing"; failureReason?: string | null; playableAt?: string | null };
  /** Called once with the ready or failed event. */
  onTerminal?: (event: TerminalEvent) => void;
}) {
  const [view, setView] = useState(() => initialView(video));
  const [problem, setProblem] = useState<string | null>(null);
  const terminal = useRef(onTerminal);
  terminal.current = onTerminal;
  const id = useId();
  const following = view.phase !== "ready" && view.phase !== "failed";

  useEffect(() => {
    if (!following) return;
    const subscription = subscribeToProgress({
      baseUrl: origin,
      videoId,
      accessToken: async () => (await session.accessToken()) ?? "",
      onSnapshot: () => setProblem(null),
      onEvent: (event: ProgressEvent) => {
        setProblem(null);
        setView((previous) => applyEvent(previous, event));
        if (event.type === "ready" || event.type === "failed") terminal.current?.(event);
      },
      onError: (error) => setProblem(problemText(error)),
    });
    return () => subscription.close();
  }, [videoId]);

  const eta = view.phase === "transcoding" ? formatEta(view.etaSeconds) : "";
  const showBars = view.phase === "transcoding" || view.phase === "uploading";
  return (
    <div class="transcode">
      <p class="transcode-status">
        <span role="status">{describeView(view)}</span>
        {eta && <span class="transcode-eta"> {eta}</span>}
      </p>
      {showBars && view.percent !== null && (
        <div class="meter">
          <span id={`${id}-all`}>{view.phase === "uploading" ? "Publishing" : "All renditions"}</span>
          <progress aria-labelledby={`${id}-all`} max={100} value={view.percent} />
          <span class="meter-value">{Math.floor(view.percent)}%</span>
        </div>
      )}
      {showBars && view.rungs.length > 0 && (
        <ul class="rungs" aria-label="Transcode progress per rendition">
          {view.rungs.map((rung) => (
            <li key={rung.name} class="meter">
              <span id={`${id}-${rung.name}`}>{rung.name}</span>
              <progress aria-labelledby={`${id}-${rung.name}`} max={100} value={rung.percent} />
              <span class="meter-value">{Math.floor(rung.percent)}%</span>
            </li>
          ))}
        </ul>
      )}
      {view.phase === "failed" && (
        <p class="notice notice-error">
          {view.failureReason ? `Why: ${view.failureReason}` : "The transcoder gave no reason."}
        </p>
      )}
      {problem && <p class="notice transcode-problem">{problem}</p>}
      {view.playable && (
        <p>
          <a class="button primary" href={`/watch/${videoId}`}>
            Watch now
          </a>
        </p>
      )}
    </div>
  );
}

function problemText(error: ProgressClientError): string {
  switch (error.kind) {
    case "deleted":
      return "This video was deleted.";
    case "server":
      return `The progress feed refused: ${error.message}`;
    case "socket":
      return error.willRetry
        ? "Lost the live progress: reconnecting…"
        : "Could not follow the progress: reload the page to try again.";
  }
}
