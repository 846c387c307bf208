/** A viewer counts again for a video only after this long. */
export const VIEW_WINDOW_MS = 30 * 60 * 1000;

type StateRow = { video_id: string | null; pending: number };

/**
 * One video's view bookkeeping in its ViewCounter's SQLite storage: who viewed in the last VIEW_WINDOW_MS
 * (viewer keys only: user ids or salted hashes, never addresses) and how many counted views are waiting
 * to be flushed. Every method is synchronous, so each is atomic with respect to the object's other events.
 */
export class ViewLedger {
  private readonly storage: DurableObjectStorage;

  constructor(storage: DurableObjectStorage) {
    this.storage = storage;
    const { sql } = storage;
    sql.exec("CREATE TABLE IF NOT EXISTS seen (viewer TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)");
    sql.exec("CREATE INDEX IF NOT EXISTS seen_expires_at ON seen (expires_at)");
    sql.exec(`CREATE TABLE IF NOT EXISTS state (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      video_id TEXT,
      pending INTEGER NOT NULL DEFAULT 0
    )`);
    sql.exec("INSERT OR IGNORE INTO state (id) VALUES (1)");
  }

  #state(): StateRow {
    return this.storage.sql.exec<StateRow>("SELECT video_id, pending FROM state WHERE id = 1").one();
  }

  /** The video this object counts for (set by the first view), or null. */
  videoId(): string | null {
    return this.#state().video_id;
  }

  /** Counted views not yet written to the store. */
  pending(): number {
    return this.#state().pending;
  }

  /** Records which video this object counts for; false if it already counts for another (never expected). */
  claim(videoId: string): boolean {
    const current = this.#state().video_id;
    if (current === null) this.storage.sql.exec("UPDATE state SET video_id = ? WHERE id = 1", videoId);
    return current === null || current === videoId;
  }

  /** Counts a view unless this viewer was counted within the window; true when it counted. */
  record(viewer: string, now: number): boolean {
    return this.storage.transactionSync(() => {
      const { sql } = this.storage;
      const seen = sql
        .exec<{ expires_at: number }>("SELECT expires_at FROM seen WHERE viewer = ?", viewer)
        .toArray()[0];
      if (seen && seen.expires_at > now) return false;
      sql.exec(
        "INSERT INTO seen (viewer, expires_at) VALUES (?, ?) ON CONFLICT (viewer) DO UPDATE SET expires_at = excluded.expires_at",
        viewer,
        now + VIEW_WINDOW_MS,
      );
      sql.exec("UPDATE state SET pending = pending + 1 WHERE id = 1");
      return true;
    });
  }

  /** Takes `count` views off the pending total once the store has them (more may have arrived meanwhile). */
  flushed(count: number) {
    this.storage.sql.exec("UPDATE state SET pending = max(pending - ?, 0) WHERE id = 1", count);
  }

  /** Forgets viewers whose window has passed; returns how many. */
  purge(now: number): number {
    return this.storage.sql.exec("DELETE FROM seen WHERE expires_at <= ?", now).rowsWritten;
  }

  /** When the earliest remembered viewer expires, or null when none is remembered. */
  nextExpiry(): number | null {
    const row = this.storage.sql
      .exec<{ next: number | null }>("SELECT min(expires_at) AS next FROM seen")
      .one();
    return row.next;
  }
}
