/** Redis (the BullMQ queue): connect (TLS for rediss://), AUTH, PING, and the eviction policy BullMQ needs. */
import { readFileSync } from "node:fs";
import net from "node:net";
import tls from "node:tls";
import { Redis } from "ioredis";
import { errorText, fail, type Report, redactUrl, report, shortError, warn, withTimeout } from "./report.ts";

const URL_FORM = "redis://:PASSWORD@HOST:PORT (rediss:// for TLS; URL-encode special characters)";

const PRIVATE_CA_FIX =
  "a Redis with a private CA: set NODE_EXTRA_CA_CERTS to that CA's PEM file for this check, the transcoder and wrangler dev (a Worker deployed to Cloudflare trusts public CAs only)";

/** A Redis failure in words, with its fix; `extraCa` is NODE_EXTRA_CA_CERTS when set. */
export function explainRedisError(
  text: string,
  url: string,
  timeoutMs: number,
  extraCa?: string,
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
  if (/ALTNAME|altnames|does not match certificate/i.test(text))
    return {
      message: `${where}'s TLS certificate is for another name (${shortError(text)})`,
      fix: "use the host name the certificate is issued for (the provider's public hostname), not an IP address or alias",
    };
  if (/self[- ]signed|unable to verify|UNABLE_TO_GET_ISSUER|CERT_|certificate/i.test(text))
    return {
      message: `${where}'s TLS certificate is not trusted (${shortError(text)})`,
      fix: extraCa
        ? `NODE_EXTRA_CA_CERTS (${extraCa}) does not hold the CA that signed it: point it at that CA's PEM file`
        : PRIVATE_CA_FIX,
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

/** The PEM certificates in a NODE_EXTRA_CA_CERTS file, or why there are none (Node only warns then). */
function readExtraCa(file: string): { certs: string[] } | { error: string } {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    return { error: `cannot be read (${shortError(errorText(err))})` };
  }
  const certs = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  return certs ? { certs } : { error: "holds no PEM certificate" };
}

/** Whether a TLS handshake with host:port succeeds trusting the public roots only (what Cloudflare trusts). */
function handshakeWithPublicRoots(host: string, port: number, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = tls.connect({
      host,
      port,
      ca: [...tls.rootCertificates],
      ...(net.isIP(host) ? {} : { servername: host }),
    });
    const done = (error: string | null) => {
      socket.destroy();
      resolve(error);
    };
    socket.setTimeout(timeoutMs, () => done("no answer"));
    socket.once("secureConnect", () => done(null));
    socket.once("error", (err) => done(errorText(err)));
  });
}

/**
 * Connects, authenticates and PINGs. NODE_EXTRA_CA_CERTS (`extraCa`; Node, the transcoder and wrangler
 * dev all honour it) is read here too, so a broken one is named and a private CA is tried explicitly.
 */
export async function checkRedis(
  url: string | undefined,
  opts: { timeoutMs?: number; extraCa?: string } = {},
): Promise<Report> {
  const r = report("redis");
  const timeoutMs = opts.timeoutMs ?? 5000;
  const extraCa = "extraCa" in opts ? opts.extraCa : process.env.NODE_EXTRA_CA_CERTS || undefined;
  if (!url) return fail(r, "REDIS_URL is not set", `set it: ${URL_FORM}`);
  let host = "";
  let port = 6379;
  try {
    const parsed = new URL(url);
    host = parsed.hostname.replace(/^\[|\]$/g, "");
    port = Number(parsed.port) || port;
  } catch {
    return fail(r, "REDIS_URL is not a URL", `use ${URL_FORM}`);
  }
  const secure = url.startsWith("rediss:");
  let extraCerts: string[] = [];
  if (secure && extraCa) {
    const read = readExtraCa(extraCa);
    if ("error" in read)
      return fail(
        r,
        `NODE_EXTRA_CA_CERTS (${extraCa}) ${read.error}`,
        "point it at the PEM file of the CA that signed Redis's certificate, or unset it (Node and wrangler ignore it silently)",
      );
    extraCerts = read.certs;
  }
  const client = new Redis(url, {
    ...(extraCerts.length > 0 ? { tls: { ca: [...tls.rootCertificates, ...extraCerts] } } : {}),
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
    r.ok.push(`PING answered at ${redactUrl(url)}${secure ? " over TLS" : ""}`);
    if (extraCerts.length > 0 && (await handshakeWithPublicRoots(host, port, timeoutMs)) !== null)
      warn(
        r,
        `${redactUrl(url)}'s certificate is trusted only through NODE_EXTRA_CA_CERTS (a private CA)`,
        "fine for the transcoder and wrangler dev given the same variable; a Worker deployed to Cloudflare trusts public CAs only and cannot reach it",
      );
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
    const { message, fix } = explainRedisError(text, url, timeoutMs, extraCa);
    fail(r, message, fix);
  } finally {
    client.disconnect();
  }
  return r;
}
