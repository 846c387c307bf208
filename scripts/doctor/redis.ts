/** Redis (the BullMQ queue): connect (TLS for rediss://), AUTH, PING, and the eviction policy BullMQ needs. */
import { Redis } from "ioredis";
import { errorText, fail, type Report, redactUrl, report, shortError, warn, withTimeout } from "./report.ts";

const URL_FORM = "redis://:PASSWORD@HOST:PORT (rediss:// for TLS; URL-encode special characters)";

/** A Redis failure in words, with its fix. */
export function explainRedisError(
  text: string,
  url: string,
  timeoutMs: number,
): { message: string; fix: string } {
  const where = redactUrl(url);
  const tls = url.startsWith("rediss:");
  if (/WRONGPASS|invalid password|invalid username-password/i.test(text))
    return {
      message: `wrong password: ${where} refused REDIS_URL's credentials (WRONGPASS)`,
      fix: `put the server's password (its requirepass, or an ACL user's) in REDIS_URL: ${URL_FORM}`,
    };
  if (/NOAUTH/i.test(text))
    return {
      message: `${where} requires a password and REDIS_URL has none (NOAUTH)`,
      fix: `add it to REDIS_URL: ${URL_FORM}`,
    };
  if (/wrong version number|EPROTO|packet length too long|SSL routines/i.test(text))
    return {
      message: `TLS handshake with ${where} failed: that port does not speak TLS`,
      fix: "use redis:// for a plain-text port, or the provider's TLS port with rediss://",
    };
  if (/self[- ]signed|unable to verify|UNABLE_TO_GET_ISSUER|CERT_|altnames/i.test(text))
    return {
      message: `${where}'s TLS certificate is not trusted (${shortError(text)})`,
      fix: "use the provider's public hostname (the certificate is issued for it), not an IP address or alias",
    };
  if (/ENOTFOUND|EAI_AGAIN/.test(text))
    return { message: `the host of ${where} does not resolve`, fix: "correct the host name in REDIS_URL" };
  if (/ECONNREFUSED/.test(text))
    return {
      message: `nothing listens at ${where} (connection refused)`,
      fix: "start Redis, or correct the host and port in REDIS_URL",
    };
  if (/no answer within|ETIMEDOUT|connect ETIMEDOUT|timed? ?out/i.test(text))
    return {
      message: `no answer from ${where} within ${timeoutMs / 1000} s`,
      fix: `check the host and port and that this machine may reach it (firewall, allow-list)${tls ? "" : "; a TLS-only Redis (Upstash, Redis Cloud) needs rediss://"}`,
    };
  if (/EHOSTUNREACH|ENETUNREACH/.test(text))
    return {
      message: `${where} is unreachable from here (no route)`,
      fix: "check the host in REDIS_URL and this machine's network",
    };
  if (/Protocol error/i.test(text))
    return {
      message: `${where} answered, but not as Redis (a proxy or another service on that port)`,
      fix: "correct the host and port in REDIS_URL",
    };
  if (/ECONNRESET|Connection is closed|socket hang up/i.test(text))
    return {
      message: `${where} closed the connection`,
      fix: tls
        ? "check the port is the TLS one and the plan's connection limit"
        : "a TLS-only Redis closes plain connections: use rediss://",
    };
  return { message: `${where}: ${shortError(text)}`, fix: "check REDIS_URL and that Redis is running" };
}

export async function checkRedis(
  url: string | undefined,
  opts: { timeoutMs?: number } = {},
): Promise<Report> {
  const r = report("redis");
  const timeoutMs = opts.timeoutMs ?? 5000;
  if (!url) return fail(r, "REDIS_URL is not set", `set it: ${URL_FORM}`);
  let host = "";
  try {
    host = new URL(url).hostname;
  } catch {
    return fail(r, "REDIS_URL is not a URL", `use ${URL_FORM}`);
  }
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
    enableReadyCheck: false,
  });
  let lastError = "";
  client.on("error", (err) => {
    lastError = errorText(err);
  });
  try {
    await withTimeout(client.connect(), timeoutMs, "connect");
    const pong = await withTimeout(client.ping(), timeoutMs, "PING");
    if (pong !== "PONG")
      return fail(r, `PING answered ${pong}`, "check that REDIS_URL points at a Redis server");
    r.ok.push(`PING answered at ${redactUrl(url)}${url.startsWith("rediss:") ? " over TLS" : ""}`);
    try {
      const policy = (await withTimeout(
        client.config("GET", "maxmemory-policy"),
        timeoutMs,
        "CONFIG",
      )) as string[];
      const value = policy[1];
      if (value && value !== "noeviction")
        fail(
          r,
          `maxmemory-policy is ${value}: Redis may evict queued jobs`,
          "set maxmemory-policy to noeviction (redis.conf, or the provider's console: Upstash 'Eviction' off)",
        );
    } catch {
      // CONFIG is disabled on most managed Redis: nothing to learn here.
    }
    const local = /^(localhost|127\.|::1$|\[::1\]$)/.test(host) || !host.includes(".");
    if (url.startsWith("redis:") && !local)
      warn(
        r,
        `REDIS_URL is plain text to ${host}`,
        "use the provider's TLS endpoint (rediss://): the Worker reaches Redis across the internet",
      );
  } catch (err) {
    const text = [errorText(err), lastError].filter(Boolean).join(" | ");
    const { message, fix } = explainRedisError(text, url, timeoutMs);
    fail(r, message, fix);
  } finally {
    client.disconnect();
  }
  return r;
}
