import type { ProgressEvent } from "@streamlet/shared";
import { and, eq, inArray, sql } from "drizzle-orm";
import type { PgUpdateSetSource } from "drizzle-orm/pg-core";
import type { Config } from "../config.ts";
import { createDb, type Db } from "../db/client.ts";
import { type VideoRow, videos } from "../db/schema.ts";
import { decideTransition, type TranscodeStatus } from "../videos/transitions.ts";

/** A ready or failed event: the two that end a job and are written to Postgres. */
export type TerminalEvent = Extract<ProgressEvent, { type: "ready" | "failed" }>;

/**
 * What a write found: `applied` (this call moved the row), `unchanged` (the row already had that
 * status: a repeat), `rejected` (the row is in a state the table forbids leaving, e.g. the other terminal
 * state), `missing` (no such video).
 */
export type PersistResult =
  | { outcome: "applied" | "unchanged"; row: VideoRow }
  | { outcome: "rejected"; row: VideoRow; message: string }
  | { outcome: "missing" };

/** How long one Postgres round of the progress object may take before it counts as failed. */
const POSTGRES_TIMEOUT_MS = 10_000;

/**
 * Runs `work` against a pool of its own, ended afterwards (a Durable Object, like a request, must not
 * keep sockets between events), and fails if Postgres does not answer in time.
 */
export async function withDatabase<T>(config: Config, work: (db: Db) => Promise<T>): Promise<T> {
  const { db, end } = createDb(config);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`postgres did not answer within ${POSTGRES_TIMEOUT_MS} ms`)),
      POSTGRES_TIMEOUT_MS,
    );
  });
  try {
    return await Promise.race([work(db), timeout]);
  } finally {
    clearTimeout(timer);
    end().catch((error: unknown) => console.error("postgres pool end failed:", error));
  }
}

/** Writes a job's outcome to the video row: once, conditionally, and idempotently for repeats. */
export function persistTerminal(db: Db, videoId: string, event: TerminalEvent): Promise<PersistResult> {
  const changes: PgUpdateSetSource<typeof videos> =
    event.type === "ready"
      ? {
          status: "ready",
          durationSeconds: event.durationSeconds,
          sourceWidth: event.sourceWidth,
          sourceHeight: event.sourceHeight,
          renditions: event.renditions,
          failureReason: null,
          readyAt: sql`now()`,
        }
      : { status: "failed", failureReason: event.reason };
  return transition(db, videoId, event.type, changes);
}

/** Moves a queued video to processing when the transcoder starts on it (a no-op once it is past queued). */
export function persistProcessing(db: Db, videoId: string): Promise<PersistResult> {
  return transition(db, videoId, "processing", { status: "processing" });
}

async function transition(
  db: Db,
  videoId: string,
  target: TranscodeStatus,
  changes: PgUpdateSetSource<typeof videos>,
): Promise<PersistResult> {
  // Read, decide, write conditionally on the states the move is allowed from; if something else moved
  // the row in between, decide once more on what it left.
  for (let attempt = 0; attempt < 2; attempt++) {
    const [row] = await db.select().from(videos).where(eq(videos.id, videoId)).limit(1);
    if (!row) return { outcome: "missing" };
    const decision = decideTransition(row.status, target);
    if (decision.kind === "noop") return { outcome: "unchanged", row };
    if (decision.kind === "reject") return { outcome: "rejected", row, message: decision.message };
    const [updated] = await db
      .update(videos)
      .set({ ...changes, updatedAt: sql`now()` })
      .where(and(eq(videos.id, videoId), inArray(videos.status, [...decision.from])))
      .returning();
    if (updated) return { outcome: "applied", row: updated };
  }
  throw new Error(`video ${videoId} kept changing status while moving it to ${target}`);
}
