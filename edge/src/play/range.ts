/** How to answer a request's Range header for a representation of `size` bytes. */
export type RangeDecision =
  | { kind: "full" }
  | { kind: "partial"; start: number; end: number }
  | { kind: "unsatisfiable" };

const SINGLE_RANGE = /^bytes[ \t]*=[ \t]*(\d{0,15})[ \t]*-[ \t]*(\d{0,15})[ \t]*$/i;

/**
 * Parses a single byte range (`bytes=a-b`, `a-`, `-n`) per RFC 9110 §14. Syntactically invalid
 * headers and multi-range requests are ignored (answered 200 in full, which the RFC allows);
 * well-formed ranges that miss the representation are 416. `end` is inclusive and clamped.
 */
export function parseRange(header: string | null | undefined, size: number): RangeDecision {
  if (header === null || header === undefined || header.trim() === "") return { kind: "full" };
  const match = SINGLE_RANGE.exec(header.trim());
  if (!match) return { kind: "full" };
  const [, first = "", last = ""] = match;
  if (first === "" && last === "") return { kind: "full" };

  if (first === "") {
    // Suffix range: the last n bytes.
    const length = Number(last);
    if (length === 0 || size === 0) return { kind: "unsatisfiable" };
    return { kind: "partial", start: Math.max(0, size - length), end: size - 1 };
  }

  const start = Number(first);
  const end = last === "" ? size - 1 : Number(last);
  if (last !== "" && end < start) return { kind: "full" }; // invalid range-spec: ignore the header
  if (start >= size) return { kind: "unsatisfiable" };
  return { kind: "partial", start, end: Math.min(end, size - 1) };
}

/** Streams bytes [start, end] (inclusive) of a body without buffering the whole of it. */
export function sliceStream(body: ReadableStream<Uint8Array>, start: number, end: number) {
  let offset = 0;
  const slicer = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      const chunkStart = offset;
      offset += chunk.byteLength;
      if (offset <= start || chunkStart > end) return;
      const from = Math.max(0, start - chunkStart);
      const to = Math.min(chunk.byteLength, end + 1 - chunkStart);
      controller.enqueue(chunk.subarray(from, to));
      if (offset > end) controller.terminate(); // the rest is not needed: stop reading upstream
    },
  });
  return body.pipeThrough(slicer);
}
