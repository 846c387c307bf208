/**
 * API errors as people read them. The edge answers `{ error: { code, message } }` with a message written
 * for humans; a few codes get a sentence that says what to do instead, and failures that never reached the
 * edge say so rather than "something went wrong".
 */
import type { ApiErrorBody } from "./api-types.ts";

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

/** What a page shows for a failed call. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) return MESSAGES[error.code] ?? sentence(error.message);
  if (error instanceof DOMException && error.name === "AbortError") return "Cancelled.";
  if (error instanceof TypeError) {
    return "Could not reach Streamlet: check your connection and try again.";
  }
  return error instanceof Error ? sentence(error.message) : String(error);
}

const MESSAGES: Record<string, string> = {
  unauthorized: "Please sign in to do that.",
  token_expired: "Your sign-in has expired: please sign in again.",
  token_reused: "You were signed out for safety (this sign-in was used elsewhere): please sign in again.",
  invalid_credentials: "That email and password do not match an account.",
  email_taken: "An account with that email already exists: sign in instead.",
  rate_limited: "Too many attempts: wait a moment and try again.",
  not_found: "Not found: it may have been deleted, or it is private.",
  forbidden: "You are not allowed to do that.",
};

function sentence(message: string): string {
  const trimmed = message.trim();
  if (!trimmed) return "The request failed.";
  const capital = trimmed[0]?.toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

/** Builds an ApiError from a response and its (maybe) JSON body. */
export function errorFromResponse(response: Response, body: unknown): ApiError {
  const error = (body as Partial<ApiErrorBody> | undefined)?.error;
  if (error && typeof error.code === "string" && typeof error.message === "string") {
    return new ApiError(response.status, error.code, error.message);
  }
  return new ApiError(response.status, `http_${response.status}`, `the server answered ${response.status}`);
}
