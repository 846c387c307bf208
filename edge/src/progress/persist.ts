import type { TerminalEvent } from "@streamlet/shared";
import { sql } from "drizzle-orm";
import type { PgUpdateSetSource } from "drizzle-orm/pg-core";
import type { Config } from "../config.ts";
import { createDb, type Db } from "../db/client.ts";
import type { videos } from "../db/schema.ts";
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
          renditions: event.renditions,
          failureReason: null,
          readyAt: sql`now()`,
        }
      : { failureReason: event.reason };
  return changeStatus(db, videoId, event.type, changes);
}

/** Moves a queued video to processing when the transcoder starts on it (a no-op once it is past queued). */
export function persistProcessing(db: Db, videoId: string): Promise<PersistResult> {
  return changeStatus(db, videoId, "processing");
}
