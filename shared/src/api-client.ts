/**
 * The typed client for frontends (browsers and Node): openapi-fetch checked against `paths`, generated from
 * the edge's OpenAPI document into ./api-types.ts by `npm run api:types`.
 *
 *   const api = createApiClient({ baseUrl: "https://edge.example", getToken: () => session.accessToken });
 *   const { data, error } = await api.GET("/v1/videos/{id}", { params: { path: { id } } });
 */
import createClient, { type Client, type Middleware } from "openapi-fetch";
import type { components, paths } from "./api-types.ts";

export type { components, paths };
export type ApiClient = Client<paths>;

export interface ApiClientOptions {
  /** The edge's origin, e.g. "https://edge.example" (no trailing /v1). */
  baseUrl: string;
  /** The current access token, if any: sent as `Authorization: Bearer …` unless the request sets its own. */
  getToken?: () => string | undefined | Promise<string | undefined>;
  /** A fetch to use instead of the global one. */
  fetch?: typeof globalThis.fetch;
}

export function createApiClient(options: ApiClientOptions): ApiClient {
  const client = createClient<paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ""),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const { getToken } = options;
  if (getToken) {
    const auth: Middleware = {
      async onRequest({ request }) {
        const token = await getToken();
        if (token && !request.headers.has("authorization")) {
          request.headers.set("authorization", `Bearer ${token}`);
        }
        return request;
      },
    };
    client.use(auth);
  }
  return client;
}
