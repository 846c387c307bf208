import { describe, expect, it } from "vitest";
import { constantTimeEqual, fromBase64, fromBase64Url, toBase64, toBase64Url } from "../src/lib/bytes.ts";

const bytes = (...values: number[]) => Uint8Array.from(values);

describe("constantTimeEqual", () => {
  it.each([
    ["equal", bytes(1, 2, 3), bytes(1, 2, 3), true],
    ["both empty", bytes(), bytes(), true],
    ["first byte differs", bytes(9, 2, 3), bytes(1, 2, 3), false],
    ["last byte differs", bytes(1, 2, 3), bytes(1, 2, 4), false],
    ["single bit differs", bytes(0b1000_0000), bytes(0), false],
    ["prefix of the other", bytes(1, 2), bytes(1, 2, 3), false],
    ["other is a prefix", bytes(1, 2, 3), bytes(1, 2), false],
    ["longer, trailing zeros", bytes(1, 2, 0), bytes(1, 2), false],
    ["one empty", bytes(), bytes(0), false],
  ])("%s", (_, a, b, expected) => {
    expect(constantTimeEqual(a, b)).toBe(expected);
    expect(constantTimeEqual(b, a)).toBe(expected);
  });

  it("does not stop at the first difference (same work for an early and a late mismatch)", () => {
    // Observable proxy for "no early exit": every index of both arrays is read.
    const reads: number[] = [];
    const spy = (length: number) =>
      new Proxy(new Uint8Array(length), {
        get(target, key) {
          if (typeof key === "string" && /^\d+$/.test(key)) reads.push(Number(key));
          const value = Reflect.get(target, key);
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
    const a = spy(8);
    const b = spy(8);
    a[0] = 1; // differs at index 0
    reads.length = 0;
    constantTimeEqual(a, b);
    expect(new Set(reads).size).toBe(8);
    expect(reads).toHaveLength(16);
  });
});

describe("base64 helpers", () => {
  it("round-trips base64 and base64url", () => {
    const data = bytes(0, 251, 255, 62, 63, 1, 2);
    expect(fromBase64(toBase64(data))).toEqual(data);
    const url = toBase64Url(data);
    expect(url).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(fromBase64Url(url)).toEqual(data);
  });

  it.each(["a", "ab=c", "@@@@", "abc"])("refuses malformed base64 %j", (text) => {
    expect(fromBase64(text)).toBeNull();
  });

  it.each(["a", "a+b/", "%%%", "abc="])("refuses malformed base64url %j", (text) => {
    expect(fromBase64Url(text)).toBeNull();
  });
});
