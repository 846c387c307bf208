import type { VideoStatus } from "@streamlet/shared";
import { and, eq, inArray, sql } from "drizzle-orm";
import type { PgUpdateSetSource } from "drizzle-orm/pg-core";
import type { Db } from "../db/client.ts";
import { type VideoRow, videos } from "../db/schema.ts";
import { decideTransition } from "./transitions.ts";

/**
 * What a status change found: `applied` (this call moved the row), `unchanged` (the row already had that
 * status: a repeat), `rejected` (the row is in a state the table forbids leaving for the target, e.g. the
 * other terminal state), `missing` (no such video).
 */
export type StatusChange =
  | { outcome: "applied" | "unchanged"; row: VideoRow }
  | { outcome: "rejected"; row: VideoRow; message: string }
  | { outcome: "missing" };

/**
 * The one way a video's status changes: reads the row, asks the transition table, and writes `target`
 * (with `changes`) conditionally on the states the move is allowed from, so a concurrent change is never
 * overwritten; if something else moved the row in between, it decides once more on what that left.
 */
export async function changeStatus(
  db: Db,
  videoId: string,
  target: VideoStatus,
  changes: Omit<PgUpdateSetSource<typeof videos>, "status"> = {},
): Promise<StatusChange> {
  for (let attempt = 0; attempt < 2; attempt++) {
    const [row] = await db.select().from(videos).where(eq(videos.id, videoId)).limit(1);
    if (!row) return { outcome: "missing" };
    const decision = decideTransition(row.status, target);
    if (decision.kind === "noop") return { outcome: "unchanged", row };
    if (decision.kind === "reject") return { outcome: "rejected", row, message: decision.message };
    const [updated] = await db
      .update(videos)
      .set({ ...changes, status: target, updatedAt: sql`now()` })
      .where(and(eq(videos.id, videoId), inArray(videos.status, [...decision.from])))
      .returning();
    if (updated) return { outcome: "applied", row: updated };
  }
  throw new Error(`video ${videoId} kept changing status while moving it to ${target}`);
}
