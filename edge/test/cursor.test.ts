import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HttpError } from "../src/errors.ts";
import { toBase64Url } from "../src/lib/bytes.ts";
import { decodeCursor, encodeCursor, parseCursorParam } from "../src/videos/cursor.ts";

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

describe("cursor parameter (fuzzed)", () => {
  const isInvalidCursor = (error: unknown) =>
    error instanceof HttpError && error.status === 400 && error.code === "invalid_cursor";

  /** Either a cursor Postgres can compare against, or a 400 invalid_cursor: never anything else. */
  function expectCursorOr400(text: string) {
    let cursor: ReturnType<typeof parseCursorParam>;
    try {
      cursor = parseCursorParam(text);
    } catch (error) {
      expect(isInvalidCursor(error), String(error)).toBe(true);
      return;
    }
    expect(cursor).not.toBeNull();
    const time = cursor?.createdAt.getTime() ?? Number.NaN;
    expect(time).toBeGreaterThanOrEqual(0);
    expect(time).toBeLessThan(Date.UTC(10_000, 0, 1));
    expect(cursor?.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  }

  it("refuses a cursor dated year 0000 or before the epoch", () => {
    for (const date of ["0000-01-01T00:00:00.000Z", "0001-01-01T00:00:00.000Z", "1969-12-31T23:59:59.999Z"]) {
      expect(() => parseCursorParam(encode(`${date}|${id}`))).toThrow(HttpError);
    }
  });

  it("answers any string with a usable cursor or 400 invalid_cursor", () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), expectCursorOr400), { numRuns: 2000 });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), (bytes) => expectCursorOr400(toBase64Url(bytes))),
      { numRuns: 2000 },
    );
  });

  it("answers any well-shaped date and id with a usable cursor or 400 invalid_cursor", () => {
    const digits = (n: number) => fc.stringMatching(new RegExp(`^\\d{${n}}$`));
    const timestamp = fc
      .tuple(digits(4), digits(2), digits(2), digits(2), digits(2), digits(2), digits(3))
      .map(([y, mo, d, h, mi, s, ms]) => `${y}-${mo}-${d}T${h}:${mi}:${s}.${ms}Z`);
    const uuid = fc.oneof(fc.uuid(), fc.stringMatching(/^[0-9A-Fa-f-]{36}$/));
    fc.assert(
      fc.property(timestamp, uuid, (date, uuidText) => expectCursorOr400(encode(`${date}|${uuidText}`))),
      { numRuns: 3000 },
    );
  });
});
