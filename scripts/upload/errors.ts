import { ApiError } from "../stack/client.ts";

/** Says what went wrong in one line: the edge's `{ error: { code, message } }`, or why it could not be reached. */
export function describeError(error: unknown, edge: string): string {
  if (error instanceof ApiError) {
    const body = (error.body as { error?: { code?: string; message?: string } } | null)?.error;
    return body?.code
      ? `the edge answered ${error.status} ${body.code}: ${body.message ?? ""}`.trim()
      : `the edge answered ${error.status}`;
  }
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause as { code?: string; message?: string } | undefined;
  if (error.message === "fetch failed") {
    return cause?.code === "ECONNREFUSED"
      ? `cannot reach the edge at ${edge} (connection refused: is the stack running? \`npm run dev\`)`
      : `cannot reach the edge at ${edge}: ${cause?.message ?? error.message}`;
  }
  return error.message;
}

/** The edge's error code of an API error (e.g. "invalid_credentials"), or null. */
export function errorCode(error: unknown): string | null {
  if (!(error instanceof ApiError)) return null;
  return (error.body as { error?: { code?: string } } | null)?.error?.code ?? null;
}
