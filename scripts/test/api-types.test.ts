import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { API_TYPES_FILE, generateApiTypes } from "../api-types.ts";

describe("shared/src/api-types.ts", () => {
  it("is up to date with the edge's OpenAPI document (run `npm run api:types` if not)", async () => {
    expect(readFileSync(API_TYPES_FILE, "utf8")).toBe(await generateApiTypes());
  }, 30_000);
});
