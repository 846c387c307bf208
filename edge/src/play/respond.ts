import { HttpError } from "../errors.ts";
import { parseRange, sliceStream } from "./range.ts";

/** Headers stored with a cached asset; everything a client needs except CORS (added per request). */
export function assetHeaders(contentType: string, cacheControl: string, origin: Headers): Headers {
  const headers = new Headers({
    "Content-Type": contentType,
    "Cache-Control": cacheControl,
    "Accept-Ranges": "bytes",
  });
  for (const name of ["content-length", "etag", "last-modified"]) {
    const value = origin.get(name);
    if (value !== null) headers.set(name, value);
  }
  return headers;
}

/**
 * Answers a GET/HEAD for an asset from its complete (200) response: 304 for a matching If-None-Match,
 * 206 for a satisfiable single Range (honouring If-Range), 416 for an unsatisfiable one, else 200.
 * Doing this ourselves keeps Range identical under wrangler dev and in production, whatever the
 * cache layer would have done with a Range header.
 */
export async function respondFromFull(request: Request, full: Response): Promise<Response> {
  const headers = new Headers(full.headers);
  headers.set("Accept-Ranges", "bytes");
  const etag = headers.get("etag");
  const isHead = request.method === "HEAD";

  if (etag !== null && matchesIfNoneMatch(request.headers.get("if-none-match"), etag)) {
    await full.body?.cancel();
    headers.delete("content-length");
    headers.delete("content-type");
    return new Response(null, { status: 304, headers });
  }

  let body = full.body;
  const declared = headers.get("content-length");
  let size = declared !== null && /^\d{1,15}$/.test(declared) ? Number(declared) : Number.NaN;
  if (Number.isNaN(size)) {
    const bytes = new Uint8Array(await full.arrayBuffer());
    size = bytes.byteLength;
    body = new Blob([bytes]).stream();
    headers.set("content-length", String(size));
  }

  const ifRange = request.headers.get("if-range");
  const rangeApplies = ifRange === null || (etag !== null && ifRange === etag && !etag.startsWith("W/"));
  const range = rangeApplies ? parseRange(request.headers.get("range"), size) : { kind: "full" as const };

  if (range.kind === "unsatisfiable") {
    await body?.cancel();
    throw new HttpError(416, "range_not_satisfiable", `the file is ${size} bytes long`, {
      "Content-Range": `bytes */${size}`,
      "Accept-Ranges": "bytes",
    });
  }
  if (range.kind === "full") {
    if (isHead) await body?.cancel();
    return new Response(isHead ? null : body, { status: 200, headers });
  }

  const length = range.end - range.start + 1;
  headers.set("content-range", `bytes ${range.start}-${range.end}/${size}`);
  headers.set("content-length", String(length));
  if (isHead || body === null) {
    await body?.cancel();
    return new Response(null, { status: 206, headers });
  }
  return new Response(withLength(sliceStream(body, range.start, range.end), length), {
    status: 206,
    headers,
  });
}

/** True when an If-None-Match header (a list, or "*") matches the ETag, compared weakly. */
export function matchesIfNoneMatch(header: string | null, etag: string): boolean {
  if (header === null) return false;
  if (header.trim() === "*") return true;
  const bare = (tag: string) => tag.trim().replace(/^W\//, "");
  return header.split(",").some((tag) => bare(tag) === bare(etag));
}

/**
 * Gives a JS-produced stream a known length: workerd's FixedLengthStream makes the response carry
 * Content-Length instead of chunked encoding; elsewhere (Node tests) the stream is returned as is.
 */
function withLength(stream: ReadableStream<Uint8Array>, length: number): ReadableStream<Uint8Array> {
  const Fixed = (globalThis as { FixedLengthStream?: typeof FixedLengthStream }).FixedLengthStream;
  if (Fixed === undefined) return stream;
  const fixed = new Fixed(length);
  stream.pipeTo(fixed.writable).catch((error: unknown) => console.error("range stream failed:", error));
  return fixed.readable;
}
