/** The edge as a transcoder node sees it (EDGE_URL/healthz), and PUBLIC_BASE_URL's cache caveat. */
import { errorText, fail, type Report, report, shortError, warn } from "./report.ts";

export async function checkEdge(
  edgeUrl: string | undefined,
  opts: { timeoutMs?: number; publicBaseUrl?: string | undefined } = {},
): Promise<Report> {
  const r = report("edge");
  const timeoutMs = opts.timeoutMs ?? 5000;
  if (edgeUrl) {
    const url = `${edgeUrl.replace(/\/+$/, "")}/healthz`;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
      await res.body?.cancel();
      if (res.ok) r.ok.push(`GET ${url} answered ${res.status}`);
      else
        fail(
          r,
          `GET ${url} answered ${res.status}`,
          "the edge runs but is unhealthy: `npx wrangler tail` (production) or its container log shows why",
        );
    } catch (err) {
      const text = errorText(err);
      const reason = /timeout|TimeoutError/i.test(text)
        ? `no answer within ${timeoutMs / 1000} s`
        : /ENOTFOUND|EAI_AGAIN/.test(text)
          ? "the host does not resolve"
          : /ECONNREFUSED/.test(text)
            ? "connection refused"
            : shortError(text);
      fail(
        r,
        `edge unreachable at ${url}: ${reason}`,
        "set EDGE_URL to the edge's public URL (https://… in production) and check this node may reach it",
      );
    }
  }
  if (opts.publicBaseUrl && hostOf(opts.publicBaseUrl).endsWith(".workers.dev"))
    warn(
      r,
      "PUBLIC_BASE_URL is on workers.dev, where the Cache API does nothing",
      "serve the Worker on a route of your own zone (docs/deployment.md › Worker)",
    );
  return r;
}

function hostOf(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return "";
  }
}
