import { describe, expect, it } from "vitest";
import { createApp } from "../src/app.ts";

// Every route Hono serves must be in /openapi.json with that method: the typed client is generated from it.
const IGNORED_METHODS = new Set(["HEAD", "OPTIONS", "ALL"]);

/** `:id` (with or without a regex) → `{id}`; a trailing wildcard (`/v1/play/:id/*`) → one `{*}` segment. */
export function toOpenApiPath(honoPath: string): string {
  return honoPath.replace(/:([A-Za-z0-9_]+)(\{[^}]*\})?/g, "{$1}").replace(/\/\*$/, "/{*}");
}

/** Parameter names do not matter for coverage, only the shape: `/v1/videos/{id}` ≡ `/v1/videos/{videoId}`. */
const shape = (path: string) => path.replace(/\{[^}]+\}/g, "{}");

describe("OpenAPI coverage", () => {
  it("documents every registered route with its method", async () => {
    const app = createApp();
    const res = await app.request("/openapi.json");
    const doc = (await res.json()) as { paths: Record<string, Record<string, unknown>> };
    const documented = new Set(
      Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${shape(path)}`)),
    );
    const registered = new Set(
      app.routes
        .filter((r) => !IGNORED_METHODS.has(r.method) && r.path !== "/openapi.json")
        .map((r) => `${r.method.toLowerCase()} ${toOpenApiPath(r.path)}`),
    );
    expect(registered.size).toBeGreaterThan(20);
    const missing = [...registered].filter((key) => !documented.has(shape(key)));
    expect(missing).toEqual([]);
  });

  it("normalises Hono paths", () => {
    expect(toOpenApiPath("/v1/videos/:id/comments")).toBe("/v1/videos/{id}/comments");
    expect(toOpenApiPath("/v1/play/:id/*")).toBe("/v1/play/{id}/{*}");
  });
});
