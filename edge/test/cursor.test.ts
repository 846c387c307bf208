import { describe, expect, it } from "vitest";
import { toBase64Url } from "../src/lib/bytes.ts";
import { decodeCursor, encodeCursor } from "../src/videos/cursor.ts";

const id = "0b5e7d3c-8f5a-4b7e-9c1d-2e3f4a5b6c7d";
const encode = (text: string) => toBase64Url(new TextEncoder().encode(text));

describe("cursor codec", () => {
  it("round-trips createdAt (to the millisecond) and id", () => {
    const cursor = { createdAt: new Date("2026-04-20T12:34:56.789Z"), id };
    const text = encodeCursor(cursor);
    expect(text).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(text)).toEqual(cursor);
  });

  it("normalizes the id to lower case", () => {
    const decoded = decodeCursor(encodeCursor({ createdAt: new Date(0), id: id.toUpperCase() }));
    expect(decoded?.id).toBe(id);
  });

  it.each([
    ["empty", ""],
    ["percent garbage", "%%%garbage"],
    ["not base64url", "abc+/="],
    ["plain text", "hello"],
    ["no separator", encode(`2026-04-20T12:34:56.789Z${id}`)],
    ["bad id", encode("2026-04-20T12:34:56.789Z|not-a-uuid-not-a-uuid-not-a-uuid-xxxx")],
    ["bad date", encode(`2026-13-45T12:34:56.789Z|${id}`)],
    ["date without ms", encode(`2026-04-20T12:34:56Z|${id}`)],
    ["extra field", encode(`2026-04-20T12:34:56.789Z|${id}|x`)],
    ["JSON", encode(JSON.stringify({ createdAt: "2026-04-20T12:34:56.789Z", id }))],
    ["invalid UTF-8", toBase64Url(Uint8Array.from([0xff, 0xfe, 0xfd]))],
  ])("rejects garbage (%s)", (_, text) => {
    expect(decodeCursor(text)).toBeNull();
  });
});
