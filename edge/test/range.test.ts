import { describe, expect, it } from "vitest";
import { HttpError } from "../src/errors.ts";
import { parseRange, sliceStream } from "../src/play/range.ts";
import { matchesIfNoneMatch, respondFromFull } from "../src/play/respond.ts";

describe("parseRange", () => {
  it.each([
    // header, size, expected
    [undefined, 100, { kind: "full" }],
    [null, 100, { kind: "full" }],
    ["", 100, { kind: "full" }],
    ["bytes=0-0", 100, { kind: "partial", start: 0, end: 0 }],
    ["bytes=0-99", 100, { kind: "partial", start: 0, end: 99 }],
    ["bytes=10-19", 100, { kind: "partial", start: 10, end: 19 }],
    ["bytes=10-1000", 100, { kind: "partial", start: 10, end: 99 }],
    ["bytes=99-99", 100, { kind: "partial", start: 99, end: 99 }],
    ["bytes=10-", 100, { kind: "partial", start: 10, end: 99 }],
    ["bytes=0-", 100, { kind: "partial", start: 0, end: 99 }],
    ["bytes=-10", 100, { kind: "partial", start: 90, end: 99 }],
    ["bytes=-100", 100, { kind: "partial", start: 0, end: 99 }],
    ["bytes=-1000", 100, { kind: "partial", start: 0, end: 99 }],
    ["BYTES=1-2", 100, { kind: "partial", start: 1, end: 2 }],
    ["bytes = 1 - 2", 100, { kind: "partial", start: 1, end: 2 }],
    // 416: well-formed but outside the representation
    ["bytes=100-", 100, { kind: "unsatisfiable" }],
    ["bytes=100-200", 100, { kind: "unsatisfiable" }],
    ["bytes=1000-2000", 100, { kind: "unsatisfiable" }],
    ["bytes=-0", 100, { kind: "unsatisfiable" }],
    ["bytes=0-", 0, { kind: "unsatisfiable" }],
    ["bytes=-5", 0, { kind: "unsatisfiable" }],
    // ignored (served in full): invalid syntax, other units, multiple ranges
    ["bytes=20-10", 100, { kind: "full" }],
    ["bytes=-", 100, { kind: "full" }],
    ["bytes=", 100, { kind: "full" }],
    ["bytes=a-b", 100, { kind: "full" }],
    ["bytes=1.5-2", 100, { kind: "full" }],
    ["bytes=--1", 100, { kind: "full" }],
    ["bytes=0-1,5-6", 100, { kind: "full" }],
    ["items=0-1", 100, { kind: "full" }],
    ["0-1", 100, { kind: "full" }],
    ["bytes=1234567890123456-", 100, { kind: "full" }],
  ])("%j of %i bytes → %j", (header, size, expected) => {
    expect(parseRange(header, size)).toEqual(expected);
  });
});

function streamOf(chunks: string[]) {
  const encoder = new TextEncoder();
  return new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
}

describe("sliceStream", () => {
  it.each([
    [0, 9, "0123456789"],
    [0, 0, "0"],
    [3, 6, "3456"],
    [4, 4, "4"],
    [9, 9, "9"],
    [2, 8, "2345678"],
  ])("bytes %i-%i across chunk boundaries", async (start, end, expected) => {
    const sliced = sliceStream(streamOf(["012", "3", "", "45678", "9"]), start, end);
    expect(await new Response(sliced).text()).toBe(expected);
  });
});

const BODY = "0123456789abcdefghij"; // 20 bytes

function full(headers: Record<string, string> = {}) {
  return new Response(BODY, {
    headers: {
      "content-type": "video/iso.segment",
      "content-length": "20",
      etag: '"abc"',
      "cache-control": "public, max-age=31536000, immutable",
      ...headers,
    },
  });
}

const request = (headers: Record<string, string> = {}, method = "GET") =>
  new Request("https://edge.test/v1/play/x/720p/seg_00001.m4s", { method, headers });

describe("respondFromFull", () => {
  it("answers 200 with the whole body and Accept-Ranges without a Range", async () => {
    const res = await respondFromFull(request(), full());
    expect(res.status).toBe(200);
    expect(res.headers.get("accept-ranges")).toBe("bytes");
    expect(res.headers.get("content-length")).toBe("20");
    expect(res.headers.get("etag")).toBe('"abc"');
    expect(await res.text()).toBe(BODY);
  });

  it.each([
    ["bytes=0-3", "0123", "bytes 0-3/20"],
    ["bytes=18-", "ij", "bytes 18-19/20"],
    ["bytes=-3", "hij", "bytes 17-19/20"],
    ["bytes=5-100", "56789abcdefghij", "bytes 5-19/20"],
  ])("answers %s with 206", async (range, body, contentRange) => {
    const res = await respondFromFull(request({ range }), full());
    expect(res.status).toBe(206);
    expect(res.headers.get("content-range")).toBe(contentRange);
    expect(res.headers.get("content-length")).toBe(String(body.length));
    expect(res.headers.get("content-type")).toBe("video/iso.segment");
    expect(await res.text()).toBe(body);
  });

  it.each(["bytes=20-", "bytes=-0", "bytes=50-60"])(
    "answers %s with a 416 carrying Content-Range",
    async (range) => {
      const error = await respondFromFull(request({ range }), full()).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HttpError);
      expect((error as HttpError).status).toBe(416);
      expect((error as HttpError).headers["Content-Range"]).toBe("bytes */20");
    },
  );

  it("answers HEAD with headers and no body, for whole and ranged requests", async () => {
    const whole = await respondFromFull(request({}, "HEAD"), full());
    expect(whole.status).toBe(200);
    expect(whole.headers.get("content-length")).toBe("20");
    expect(whole.body).toBeNull();
    const ranged = await respondFromFull(request({ range: "bytes=0-1" }, "HEAD"), full());
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get("content-range")).toBe("bytes 0-1/20");
    expect(ranged.body).toBeNull();
  });

  it("answers 304 for a matching If-None-Match, even with a Range", async () => {
    const res = await respondFromFull(request({ "if-none-match": 'W/"abc"', range: "bytes=0-1" }), full());
    expect(res.status).toBe(304);
    expect(res.headers.get("etag")).toBe('"abc"');
    expect(res.body).toBeNull();
  });

  it("ignores the Range when If-Range does not match the ETag", async () => {
    const stale = await respondFromFull(request({ range: "bytes=0-1", "if-range": '"old"' }), full());
    expect(stale.status).toBe(200);
    expect(await stale.text()).toBe(BODY);
    const fresh = await respondFromFull(request({ range: "bytes=0-1", "if-range": '"abc"' }), full());
    expect(fresh.status).toBe(206);
  });

  it("measures the body when the stored response has no Content-Length", async () => {
    const res = await respondFromFull(request({ range: "bytes=-2" }), full({ "content-length": "" }));
    expect(res.status).toBe(206);
    expect(res.headers.get("content-range")).toBe("bytes 18-19/20");
    expect(await res.text()).toBe("ij");
  });
});

describe("matchesIfNoneMatch", () => {
  it.each([
    [null, false],
    ['"abc"', true],
    ['W/"abc"', true],
    ['"x", "abc"', true],
    ["*", true],
    ['"abcd"', false],
  ])("%j → %s", (header, expected) => {
    expect(matchesIfNoneMatch(header, '"abc"')).toBe(expected);
  });
});
