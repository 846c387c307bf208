import type { TerminalEvent } from "@streamlet/shared";
import { and, eq, isNull, sql } from "drizzle-orm";
import type { PgUpdateSetSource } from "drizzle-orm/pg-core";
import type { Config } from "../config.ts";
import { createDb, type Db } from "../db/client.ts";
import { type VideoRow, videos } from "../db/schema.ts";
import { changeStatus, type StatusChange } from "../videos/change-status.ts";

/** What writing an event to the video row found (see StatusChange). */
export type PersistResult = StatusChange;

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
          durationSeconds: event.durationSeconds,
          sourceWidth: event.sourceWidth,
          sourceHeight: event.sourceHeight,
          // Each rendition's quality measurement included (only its owner reads it: serialize.ts).
          renditions: event.renditions,
          // The storyboard, DASH manifest and download MP4 it published; null when it sent none.
          assets: event.assets ?? null,
          // Known from the upload, or, for a video imported from a URL, from the transcoder.
          sourceBytes: sql`coalesce(${videos.sourceBytes}, ${event.sourceBytes ?? null})`,
          failureReason: null,
          readyAt: sql`now()`,
          // A short video may go straight to ready without a `playable` event.
          playableAt: sql`coalesce(${videos.playableAt}, now())`,
        }
      : { failureReason: event.reason };
  return changeStatus(db, videoId, event.type, changes);
}

/** Moves a queued video to processing when the transcoder starts on it (a no-op once it is past queued). */
export function persistProcessing(db: Db, videoId: string): Promise<PersistResult> {
  return changeStatus(db, videoId, "processing");
}

/**
 * What recording a `playable` event found: `applied` (playable_at set now), `unchanged` (already set: a
 * resend or a retried job), `ignored` (the row is past processing: ready or failed; nothing to record),
 * `missing` (deleted).
 */
export type PlayableResult =
  | { outcome: "applied" | "unchanged" | "ignored"; row: VideoRow }
  | { outcome: "missing" };

/**
 * Marks a processing video playable (playable_at = now(), once): from then on the edge serves its growing
 * playlists. Moves a still-queued row to processing first (that background write may not have landed);
 * never touches a ready, failed or deleted video.
 */
export async function persistPlayable(db: Db, videoId: string): Promise<PlayableResult> {
  const moved = await changeStatus(db, videoId, "processing");
  if (moved.outcome === "missing") return moved;
  if (moved.outcome === "rejected") return { outcome: "ignored", row: moved.row };
  const [updated] = await db
    .update(videos)
    .set({ playableAt: sql`now()`, updatedAt: sql`now()` })
    .where(and(eq(videos.id, videoId), eq(videos.status, "processing"), isNull(videos.playableAt)))
    .returning();
  if (updated) return { outcome: "applied", row: updated };
  const [row] = await db.select().from(videos).where(eq(videos.id, videoId)).limit(1);
  if (!row) return { outcome: "missing" };
  return { outcome: row.status === "processing" ? "unchanged" : "ignored", row };
}
