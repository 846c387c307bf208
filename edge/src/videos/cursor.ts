import { fromBase64Url, toBase64Url } from "../lib/bytes.ts";
import { isUuid } from "./serialize.ts";

/** A position in the ready-videos list: the last row of a page, ordered by (createdAt desc, id desc). */
export type Cursor = { createdAt: Date; id: string };

/** Encodes a cursor as opaque base64url so clients cannot depend on its contents. */
export function encodeCursor(cursor: Cursor): string {
  return toBase64Url(
    new TextEncoder().encode(`${cursor.createdAt.toISOString()}|${cursor.id.toLowerCase()}`),
  );
}

/** Decodes a cursor; null for anything this service did not produce. */
export function decodeCursor(text: string): Cursor | null {
  const bytes = fromBase64Url(text);
  if (!bytes) return null;
  let decoded: string;
  try {
    decoded = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    return null;
  }
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)\|([0-9a-f-]{36})$/.exec(decoded);
  if (!match?.[1] || !match[2] || !isUuid(match[2])) return null;
  const createdAt = new Date(match[1]);
  if (Number.isNaN(createdAt.getTime()) || createdAt.toISOString() !== match[1]) return null;
  return { createdAt, id: match[2] };
}
