import { request as httpRequest, type IncomingMessage, STATUS_CODES } from "node:http";
import { request as httpsRequest } from "node:https";
import ipaddr from "ipaddr.js";
import type { AddressPolicy } from "./address-policy.ts";
import { formatBytes, formatDuration, ImportError } from "./import-error.ts";
import { type CheckedTarget, checkTarget, checkUrlForm, pinnedLookup, type Resolver } from "./target.ts";

/**
 * Opens a source URL: one GET per hop, redirects followed by hand so each target goes through the
 * same checks as the first, and the response of the last hop handed back with its body unread.
 */

export interface OpenOptions {
  policy: AddressPolicy;
  resolve: Resolver;
  maxRedirects: number;
  /** How long connecting and waiting for the response headers may take, per hop. */
  idleTimeoutMs: number;
  signal: AbortSignal;
  userAgent: string;
}

export interface OpenedSource {
  res: IncomingMessage;
  target: CheckedTarget;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** Follows the URL to a 2xx response, or throws an ImportError saying why not. */
export async function openSource(rawUrl: string, options: OpenOptions): Promise<OpenedSource> {
  let url = checkUrlForm(rawUrl, undefined);
  for (let redirects = 0; ; redirects++) {
    const target = await abortable(
      checkTarget(url, redirects > 0, options.policy, options.resolve),
      options.signal,
    );
    const res = await get(target, options);
    const status = res.statusCode ?? 0;
    if (REDIRECT_STATUSES.has(status)) {
      const location = res.headers.location;
      res.destroy();
      if (!location) {
        throw new ImportError(
          "http_status",
          `the URL answered ${statusText(status)} without saying where to go`,
          false,
        );
      }
      if (redirects >= options.maxRedirects) {
        throw new ImportError(
          "too_many_redirects",
          `the URL redirects more than ${options.maxRedirects} times`,
          false,
        );
      }
      url = checkUrlForm(location, url);
      continue;
    }
    if (status < 200 || status > 299) {
      res.destroy();
      throw statusError(status);
    }
    return { res, target };
  }
}

/** "404 Not Found": the standard reason phrase, never the server's own text. */
function statusText(status: number): string {
  return `${status} ${STATUS_CODES[status] ?? ""}`.trim();
}

/** 404 and 410 say the file isn't there; 5xx, 408 and 429 may pass; other answers won't change. */
export function statusError(status: number): ImportError {
  const message = `the URL answered ${statusText(status)}`;
  if (status === 404 || status === 410) return new ImportError("url_not_found", message, false);
  const transient = status >= 500 || status === 408 || status === 429;
  return new ImportError("http_status", message, transient);
}

/** One GET to a checked target, connected only to its checked addresses. */
function get(target: CheckedTarget, options: OpenOptions): Promise<IncomingMessage> {
  const request = target.url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      target.url,
      {
        method: "GET",
        agent: false, // a socket of its own: never one pooled from another host's lookup
        lookup: pinnedLookup(target),
        timeout: options.idleTimeoutMs, // covers connecting, the TLS handshake and the headers
        signal: options.signal,
        headers: { "user-agent": options.userAgent, accept: "*/*", "accept-encoding": "identity" },
      },
      (res) => {
        req.setTimeout(0); // the body has its own idle timer (it knows when storage is the slow side)
        // The lookup answered only checked addresses; this makes sure the socket really went there.
        const remote = res.socket.remoteAddress;
        if (!remote || !target.addresses.some((a) => sameAddress(a.address, remote))) {
          res.destroy();
          reject(
            new ImportError("url_forbidden", "the URL led to an address that was not checked", false, {
              detail: `connected to ${remote}, checked ${target.addresses.map((a) => a.address).join(", ")}`,
            }),
          );
          return;
        }
        resolve(res);
      },
    );
    req.on("timeout", () => {
      req.destroy(
        new ImportError(
          "timeout",
          `the server ${target.hostname} did not answer within ${formatDuration(options.idleTimeoutMs)}`,
          true,
        ),
      );
    });
    req.on("error", (err) => reject(connectionError(err, target.hostname)));
    req.end();
  });
}

function sameAddress(a: string, b: string): boolean {
  try {
    return ipaddr.process(a).toNormalizedString() === ipaddr.process(b).toNormalizedString();
  } catch {
    return false;
  }
}

const TLS_CODE = /CERT|SELF_SIGNED|UNABLE_TO_|^ERR_TLS|^ERR_SSL/;

/**
 * A socket-level failure as an ImportError: refused, cut or stalled connections are transient; a
 * refused certificate or a server that does not speak HTTP is not. `bytes`: how much of the body had
 * arrived, when it was cut.
 */
export function connectionError(err: unknown, host: string, bytes?: number): unknown {
  if (err instanceof ImportError) return err;
  if (err instanceof Error && err.name === "AbortError") return err; // the caller's, or the deadline's
  const code = String((err as { code?: unknown }).code ?? "");
  const options = { cause: err, detail: code || String(err) };
  if (TLS_CODE.test(code)) {
    return new ImportError("tls_error", `the HTTPS connection to ${host} failed (${code})`, false, options);
  }
  if (code.startsWith("HPE_")) {
    return new ImportError(
      "unreachable",
      `the server ${host} did not answer with valid HTTP`,
      false,
      options,
    );
  }
  if (code === "ECONNREFUSED") {
    return new ImportError("unreachable", `the server ${host} refused the connection`, true, options);
  }
  if (bytes !== undefined) {
    return new ImportError(
      "unreachable",
      `the connection to ${host} was cut after ${formatBytes(bytes)}`,
      true,
      options,
    );
  }
  return new ImportError(
    "unreachable",
    `could not connect to the server ${host} (${code || "error"})`,
    true,
    options,
  );
}

/** `promise`, or the signal's reason as soon as it aborts (a DNS lookup can't be cancelled). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
