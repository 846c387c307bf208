/** CLOUDFLARE_PURGE_TOKEN: is the token valid and active (Cloudflare's token verify endpoint)? */
import { errorText, fail, type Report, report, shortError } from "./report.ts";

export async function checkCachePurge(
  env: Record<string, string | undefined>,
  opts: { timeoutMs?: number } = {},
): Promise<Report> {
  const r = report("cache purge");
  const token = env.CLOUDFLARE_PURGE_TOKEN;
  if (!env.CLOUDFLARE_ZONE_ID || !token) return r;
  const base = (env.CLOUDFLARE_API_BASE || "https://api.cloudflare.com/client/v4").replace(/\/+$/, "");
  try {
    const res = await fetch(`${base}/user/tokens/verify`, {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(opts.timeoutMs ?? 5000),
    });
    const body = (await res.json().catch(() => ({}))) as { success?: boolean; result?: { status?: string } };
    if (res.ok && body.success && body.result?.status === "active")
      r.ok.push("CLOUDFLARE_PURGE_TOKEN is active");
    else
      fail(
        r,
        `CLOUDFLARE_PURGE_TOKEN is not an active token (HTTP ${res.status}${body.result?.status ? `, ${body.result.status}` : ""})`,
        "create an API token with only Zone › Cache Purge › Purge on this zone and `npx wrangler secret put CLOUDFLARE_PURGE_TOKEN`",
      );
  } catch (err) {
    fail(
      r,
      `Cloudflare's API did not answer: ${shortError(errorText(err))}`,
      "check this machine reaches api.cloudflare.com",
    );
  }
  return r;
}
