import type { ChannelRef } from "@streamlet/shared";
import { and, eq, inArray } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { channels, subscriptions } from "../db/schema.ts";

/**
 * The channel of each owner (handle and name), in one query for a whole page of videos or comments;
 * owners without a channel have no entry. A user has at most one channel (channels.owner_id is unique).
 */
export async function channelRefs(db: Db, ownerIds: readonly string[]): Promise<Map<string, ChannelRef>> {
  const unique = [...new Set(ownerIds)];
  const refs = new Map<string, ChannelRef>();
  if (unique.length === 0) return refs;
  const rows = await db
    .select({ ownerId: channels.ownerId, handle: channels.handle, name: channels.name })
    .from(channels)
    .where(unique.length === 1 ? eq(channels.ownerId, unique[0] ?? "") : inArray(channels.ownerId, unique));
  for (const row of rows) refs.set(row.ownerId, { handle: row.handle, name: row.name });
  return refs;
}

/** The owner's channel (its id too, to look up subscriptions), or null when they have none. */
export async function ownerChannel(
  db: Db,
  ownerId: string,
): Promise<{ id: string; handle: string; name: string } | null> {
  const [row] = await db
    .select({ id: channels.id, handle: channels.handle, name: channels.name })
    .from(channels)
    .where(eq(channels.ownerId, ownerId))
    .limit(1);
  return row ?? null;
}

/** Whether the user subscribes to the channel: the `subscribed` flags of signed-in reads. */
export async function isSubscribed(db: Db, userId: string, channelId: string): Promise<boolean> {
  const [row] = await db
    .select({ channelId: subscriptions.channelId })
    .from(subscriptions)
    .where(and(eq(subscriptions.channelId, channelId), eq(subscriptions.userId, userId)))
    .limit(1);
  return row !== undefined;
}

/** One owner's channel as shown beside their video, or null (the single-video form of channelRefs). */
export async function channelRefOf(db: Db, ownerId: string): Promise<ChannelRef | null> {
  return (await channelRefs(db, [ownerId])).get(ownerId) ?? null;
}
