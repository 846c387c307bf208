import type { ErrorEnvelope } from "@streamlet/shared";
import { DrizzleQueryError } from "drizzle-orm/errors";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/** An error the client can act on: onError answers it as `{ error: { code, message } }` with `status`. */
export class HttpError extends Error {
  override name = "HttpError";

  readonly status: ContentfulStatusCode;
  readonly code: string;
  readonly headers: Record<string, string>;

  constructor(
    status: ContentfulStatusCode,
    code: string,
    message: string,
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

/** Builds the one error body shape every 4xx/5xx uses. */
export function envelope(code: string, message: string): ErrorEnvelope {
  return { error: { code, message } };
}

/** Not found, worded the same whether the thing is missing or belongs to someone else. */
export function notFound(what = "video"): HttpError {
  return new HttpError(404, "not_found", `${what} not found`);
}

/**
 * What to log for an error: a failed query's SQL and the driver's message and code, never its bound
 * parameters (DrizzleQueryError's message and `params` carry emails and password hashes) nor the driver's
 * `detail` (which quotes the conflicting values). Anything else is returned as it is.
 */
export function loggable(error: unknown): unknown {
  if (!(error instanceof DrizzleQueryError)) return error;
  const cause = error.cause as { name?: unknown; message?: unknown; code?: unknown } | undefined;
  const causeText =
    cause === undefined
      ? ""
      : ` (${typeof cause.name === "string" ? cause.name : "Error"}${typeof cause.code === "string" ? ` ${cause.code}` : ""}: ${typeof cause.message === "string" ? cause.message : "?"})`;
  const redacted = new Error(`Failed query: ${error.query}${causeText}`);
  redacted.name = "DrizzleQueryError";
  const frames = (error.stack ?? "").split("\n").filter((line) => /^\s+at /.test(line));
  redacted.stack = [`${redacted.name}: ${redacted.message}`, ...frames].join("\n");
  return redacted;
}
