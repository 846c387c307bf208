import { describe, expect, it } from "vitest";
import { toComment } from "../src/comments/serialize.ts";
import { sumViews, toPage, zeroes } from "../src/engagement/store.ts";

const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms);

describe("engagement store helpers", () => {
  it("cuts limit + 1 rows into a page and a cursor at its last item", () => {
    const rows = [3, 2, 1].map((n) => ({ id: `id-${n}`, createdAt: at(n) }));
    expect(toPage(rows, 2)).toEqual({ items: rows.slice(0, 2), next: { id: "id-2", createdAt: at(2) } });
    expect(toPage(rows, 3)).toEqual({ items: rows, next: null });
    expect(toPage([], 5)).toEqual({ items: [], next: null });
  });

  it("adds up view batches per video, dropping zeros and refusing negative or fractional counts", () => {
    expect(
      Object.fromEntries(
        sumViews([
          { videoId: "a", count: 2 },
          { videoId: "b", count: 0 },
          { videoId: "a", count: 3 },
        ]),
      ),
    ).toEqual({ a: 5 });
    for (const count of [-1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 2]) {
      expect(() => sumViews([{ videoId: "a", count }])).toThrow(RangeError);
    }
  });

  it("gives every id its own zero", () => {
    const map = zeroes(["a", "b"], () => ({ n: 0 }));
    expect(Object.fromEntries(map)).toEqual({ a: { n: 0 }, b: { n: 0 } });
    expect(map.get("a")).not.toBe(map.get("b"));
  });

  it("serializes a stored comment for the API, its author by id and channel", () => {
    const record = {
      id: "c",
      videoId: "v",
      authorId: "u",
      parentId: null,
      body: "hi",
      createdAt: at(5),
      replyCount: 2,
    };
    expect(toComment(record, { handle: "ada", name: "Ada" })).toEqual({
      id: "c",
      videoId: "v",
      authorId: "u",
      author: { id: "u", channel: { handle: "ada", name: "Ada" } },
      parentId: null,
      body: "hi",
      createdAt: "2026-01-01T00:00:00.005Z",
      replyCount: 2,
    });
    expect(toComment(record, null).author).toEqual({ id: "u", channel: null });
  });
});
