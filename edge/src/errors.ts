import type { ErrorEnvelope } from "@streamlet/shared";
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
