import { canonicalId } from "@streamlet/shared";
import { type AnyColumn, type SQL, sql } from "drizzle-orm";
import { HttpError } from "../errors.ts";
import { fromBase64Url, toBase64Url } from "../lib/bytes.ts";

/** A position in the ready-videos list: the last row of a page, ordered by (createdAt desc, id desc). */
export type Cursor = { createdAt: Date; id: string };

/** Encodes a cursor as opaque base64url so clients cannot depend on its contents. */
export function encodeCursor(cursor: Cursor): string {
  return toBase64Url(new TextEncoder().encode(`${cursor.createdAt.toISOString()}|${cursor.id}`));
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
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)\|([0-9A-Fa-f-]{36})$/.exec(decoded);
  const id = match?.[2] === undefined ? null : canonicalId(match[2]);
  if (!match?.[1] || id === null) return null;
  const createdAt = new Date(match[1]);
  if (Number.isNaN(createdAt.getTime()) || createdAt.toISOString() !== match[1]) return null;
  // No row predates the epoch; year 0000 (which Postgres refuses) and the like are not ours.
  if (createdAt.getTime() < 0) return null;
  return { createdAt, id };
}

/** The `cursor` query parameter: absent is the first page; anything else we did not issue is a 400. */
export function parseCursorParam(text: string | undefined): Cursor | null {
  if (text === undefined) return null;
  const cursor = decodeCursor(text);
  if (!cursor) throw new HttpError(400, "invalid_cursor", "cursor is not one this API returned");
  return cursor;
}

/** Keyset condition for newest-first pages: the rows after `cursor` in (createdAt desc, id desc) order. */
export function afterCursor(createdAt: AnyColumn, id: AnyColumn, cursor: Cursor | null): SQL | undefined {
  if (!cursor) return undefined;
  return sql`(${createdAt}, ${id}) < (${cursor.createdAt.toISOString()}::timestamptz, ${cursor.id}::uuid)`;
}

/** Splits the `limit + 1` rows of a keyset query into this page and the next page's cursor. */
export function pageOf<T>(rows: T[], limit: number, cursorOf: (row: T) => Cursor) {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return { page, nextCursor: rows.length > limit && last ? encodeCursor(cursorOf(last)) : null };
}
