import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { describe, expect, it } from "vitest";
import { validationHook } from "../src/app.ts";
import { idParams } from "../src/ids.ts";

const ID = "0b5e7d3c-8f5a-4b7e-9c1d-2e3f4a5b6c7d";

function app(what: "video" | "comment") {
  const route = createRoute({
    method: "get",
    path: "/things/{id}",
    request: { params: idParams(what) },
    responses: { 200: { description: "ok" } },
  });
  return new OpenAPIHono({ defaultHook: validationHook }).openapi(route, (c) =>
    c.json({ id: c.req.valid("param").id }, 200),
  );
}

describe("id path parameters", () => {
  it.each([ID, ID.toUpperCase(), "0B5e7D3c-8F5a-4B7e-9C1d-2E3f4A5b6C7d"])(
    "hand the handler the canonical id for %s",
    async (sent) => {
      const res = await app("video").request(`/things/${sent}`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ id: ID });
    },
  );

  it.each(["not-a-uuid", `${ID}0`, ID.replaceAll("-", ""), "%20", `{${ID}}`])(
    "answer 404 not_found for %s, worded for what the id names",
    async (sent) => {
      for (const what of ["video", "comment"] as const) {
        const res = await app(what).request(`/things/${sent}`);
        expect(res.status).toBe(404);
        expect(await res.json()).toEqual({ error: { code: "not_found", message: `${what} not found` } });
      }
    },
  );

  it("are documented as a uuid path parameter", async () => {
    const doc = app("video").getOpenAPI31Document({ openapi: "3.1.0", info: { title: "t", version: "1" } });
    expect(doc.paths?.["/things/{id}"]?.get?.parameters).toEqual([
      { schema: { type: "string", format: "uuid" }, required: true, name: "id", in: "path" },
    ]);
  });
});
