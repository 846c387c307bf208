import { describe, expect, it } from "vitest";
import { canonicalId, Id, isCanonicalId, VideoId } from "../src/index.ts";

const lower = "0b8a5f3e-8c1d-4e2a-9f00-5d6c7b8a9e10";

describe("ids", () => {
  it("have one canonical form: the lower-case UUID", () => {
    expect(canonicalId(lower)).toBe(lower);
    expect(canonicalId(lower.toUpperCase())).toBe(lower);
    expect(canonicalId("0B8a5F3e-8C1d-4e2A-9f00-5D6c7B8a9E10")).toBe(lower);
    expect(isCanonicalId(lower)).toBe(true);
    expect(isCanonicalId(lower.toUpperCase())).toBe(false);
  });

  it("are refused in any other shape", () => {
    for (const bad of [
      "",
      "v1",
      `${lower} `,
      ` ${lower}`,
      `${lower}0`,
      lower.replaceAll("-", ""),
      `{${lower}}`,
      lower.replace("0", "g"),
      "../../sources/x",
      `${lower}/..`,
    ]) {
      expect(canonicalId(bad), bad).toBeNull();
      expect(Id.safeParse(bad).success, bad).toBe(false);
    }
  });

  it("parse to the canonical form in schemas", () => {
    expect(VideoId.parse(lower.toUpperCase())).toBe(lower);
    expect(VideoId.safeParse(42).success).toBe(false);
  });
});
