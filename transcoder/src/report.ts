import { StatusReport } from "@streamlet/shared";
import { EdgeRejectedError } from "./errors.ts";
import { withRetry } from "./retry.ts";

export interface ReporterOptions {
  edgeUrl: string;
  secret: string;
  attempts?: number;
  baseDelayMs?: number;
  fetch?: typeof fetch;
}

/** Sends a status report for one video. */
export type Reporter = (videoId: string, report: StatusReport) => Promise<void>;

class EdgeUnavailableError extends Error {
  override name = "EdgeUnavailableError";
}

/** Reports job status to the edge, retrying blips; a 4xx is a bug (or a deleted video) and is not retried. */
export function createReporter(options: ReporterOptions): Reporter {
  const doFetch = options.fetch ?? fetch;
  const base = options.edgeUrl.replace(/\/+$/, "");
  return async (videoId, report) => {
    // Validate our own output: a malformed report is our bug and should fail loudly here, not at the edge.
    const body = JSON.stringify(StatusReport.parse(report));
    const url = `${base}/v1/internal/videos/${encodeURIComponent(videoId)}/status`;
    await withRetry(
      async () => {
        const res = await doFetch(url, {
          method: "POST",
          headers: { "Content-Type": "application/json", Authorization: `Bearer ${options.secret}` },
          body,
          signal: AbortSignal.timeout(15_000),
        });
        const text = await res.text().catch(() => "");
        if (res.ok) return;
        if (res.status >= 500 || res.status === 429) {
          throw new EdgeUnavailableError(`edge answered HTTP ${res.status}: ${text.slice(0, 300)}`);
        }
        throw new EdgeRejectedError(res.status, text);
      },
      {
        attempts: options.attempts ?? 4,
        baseDelayMs: options.baseDelayMs ?? 500,
        // fetch rejects with TypeError when the edge is unreachable, TimeoutError when it hangs.
        isTransient: (err) =>
          err instanceof EdgeUnavailableError ||
          err instanceof TypeError ||
          (err instanceof Error && err.name === "TimeoutError"),
      },
    );
  };
}
