import type { Channel } from "@streamlet/shared";
import { count, eq, inArray } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { type ChannelRow, subscriptions } from "../db/schema.ts";

/** The API shape of a channel row with its subscriber count. */
export function toChannel(row: ChannelRow, subscriberCount: number): Channel {
  return {
    id: row.id,
    handle: row.handle,
    name: row.name,
    description: row.description,
    ownerId: row.ownerId,
    subscriberCount,
    createdAt: row.createdAt.toISOString(),
  };
}

/** Subscriber counts of several channels in one query (zero for those without any). */
export async function subscriberCounts(db: Db, channelIds: readonly string[]): Promise<Map<string, number>> {
  const counts = new Map(channelIds.map((id) => [id, 0]));
  if (channelIds.length === 0) return counts;
  const rows = await db
    .select({ channelId: subscriptions.channelId, n: count() })
    .from(subscriptions)
    .where(
      channelIds.length === 1
        ? eq(subscriptions.channelId, channelIds[0] ?? "")
        : inArray(subscriptions.channelId, [...channelIds]),
    )
    .groupBy(subscriptions.channelId);
  for (const row of rows) counts.set(row.channelId, row.n);
  return counts;
}

const HANDLE = /^[a-z0-9_]{3,30}$/;

/** A path handle in its stored (lower-case) form, or null when it cannot name any channel (answer 404). */
export function normalHandle(handle: string): string | null {
  const lower = handle.toLowerCase();
  return HANDLE.test(lower) ? lower : null;
}
