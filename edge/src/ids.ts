import { z } from "@hono/zod-openapi";
import { canonicalId } from "@streamlet/shared";

/**
 * A path parameter naming a video or comment: documented as a uuid; after validation it holds the
 * canonical (lower-case) id from shared's canonicalId, so every query, storage key, Durable Object name
 * and token downstream sees one form. A malformed one fails validation on the `param` target, which the
 * app's validation hook answers 404 `<what> not found` (a malformed id names nothing).
 */
export function idParam(what: "video" | "comment" = "video", description?: string) {
  return z
    .string()
    .openapi({ param: { name: "id", in: "path" }, format: "uuid", ...(description ? { description } : {}) })
    .transform((raw, ctx) => {
      const id = canonicalId(raw);
      if (id === null) {
        ctx.addIssue({ code: "custom", message: `${what} not found` });
        return z.NEVER;
      }
      return id;
    });
}

/** `{ id }` path parameters: see idParam. */
export function idParams(what: "video" | "comment" = "video", description?: string) {
  return z.object({ id: idParam(what, description) });
}
