/**
 * The app's one API client: @streamlet/shared's typed client on this origin, with the session's access
 * token on every request, refreshed before it expires and once more when the edge answers 401 to it.
 *
 *   const video = await call(api.GET("/v1/videos/{id}", { params: { path: { id } } }));
 */
import { createApiClient } from "@streamlet/shared/api-client";
import type { AuthTokens } from "./api-types.ts";
import { errorFromResponse } from "./errors.ts";
import { RefreshRefused, SessionStore } from "./session.ts";

export const origin = globalThis.location?.origin ?? "http://localhost";

async function refresh(refreshToken: string): Promise<AuthTokens> {
  const response = await fetch(`${origin}/v1/auth/refresh`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ refreshToken }),
  });
  const body = await response.json().catch(() => undefined);
  if (response.ok) return body as AuthTokens;
  // 401/403: the token is dead (expired, revoked, reused); 429 and 5xx: try again later, keep the session.
  if (response.status === 401 || response.status === 403) throw new RefreshRefused();
  throw errorFromResponse(response, body);
}

export const session = new SessionStore(globalThis.localStorage, refresh);
globalThis.addEventListener?.("storage", (event) => session.syncFromStorage(event.key));

/**
 * fetch that retries a request once with a refreshed token when the edge refused the access token it
 * carried (401 `unauthorized`: expired or invalid; a wrong password's `invalid_credentials` is not that).
 */
async function fetchWithRetry(input: Request): Promise<Response> {
  const sent = input.headers.get("authorization")?.replace(/^Bearer /, "");
  const retry = sent ? input.clone() : null;
  const response = await fetch(input);
  if (response.status !== 401 || !retry) return response;
  const body = (await response
    .clone()
    .json()
    .catch(() => null)) as { error?: { code?: string } } | null;
  if (body?.error?.code !== "unauthorized") return response;
  const token = await session.accessToken(sent);
  if (!token || token === sent) return response;
  retry.headers.set("authorization", `Bearer ${token}`);
  return fetch(retry);
}

export const api = createApiClient({
  baseUrl: origin,
  getToken: () => session.accessToken(),
  fetch: fetchWithRetry as typeof fetch,
});

/** The data of a typed call, or an ApiError with the edge's code and message. */
export async function call<T>(
  request: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  const { data, error, response } = await request;
  if (!response.ok || error !== undefined) throw errorFromResponse(response, error);
  return data as T;
}
