import { z } from "zod";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The canonical form of an id (videos, comments, users): a lower-case UUID. Postgres compares uuids
 * case-insensitively but storage keys and Durable Object names do not, so every route, storage key and
 * object name goes through this one function; null means "not an id" (answer 404 without a query).
 */
export function canonicalId(raw: string): string | null {
  return UUID.test(raw) ? raw.toLowerCase() : null;
}

/** The canonical form of an id that must be one (a key or token built from it); throws otherwise. */
export function requireCanonicalId(raw: string): string {
  const id = canonicalId(raw);
  if (id === null) throw new TypeError(`not an id: ${JSON.stringify(raw)}`);
  return id;
}

/** True when `value` is already an id in canonical (lower-case) form. */
export function isCanonicalId(value: string): boolean {
  return canonicalId(value) === value;
}

/** An id in a request or payload: any-case UUID in, canonical lower-case UUID out. */
export const Id = z
  .string()
  .regex(UUID, { message: "must be a UUID" })
  .transform((value) => value.toLowerCase());

/** A video id; the same rules as every other id, named for what it identifies. */
export const VideoId = Id;
export type VideoId = z.output<typeof VideoId>;
