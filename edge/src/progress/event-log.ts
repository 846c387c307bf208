import { type ProgressEvent, parseProgressEvent } from "@streamlet/shared";

/** How many events an object keeps; a subscriber resuming from further back gets a snapshot instead. */
export const MAX_EVENTS = 1000;

/** The object's durable bookkeeping besides the events themselves. */
export type LogState = {
  /** The video this object serves; set by the first connection, checked on every later one. */
  videoId: string | null;
  /** Highest seq stored (-1: none); anything at or below it is a duplicate. */
  lastSeq: number;
  /** A ready/failed event is in Postgres; everything after it is acknowledged and dropped. */
  terminalPersisted: boolean;
  /** The row has been moved queued → processing (or found past it). */
  processingMarked: boolean;
  /** Highest seq deleted by retention (-1: none): a resume from below it cannot be replayed exactly. */
  prunedThrough: number;
};

type StateRow = {
  video_id: string | null;
  last_seq: number;
  terminal_persisted: number;
  processing_marked: number;
  pruned_through: number;
};

/**
 * A video's recent progress events and bookkeeping in the Durable Object's SQLite storage. Every method
 * is synchronous (the storage API is), so each one is atomic with respect to other events of the object.
 */
export class EventLog {
  private readonly storage: DurableObjectStorage;

  constructor(storage: DurableObjectStorage) {
    this.storage = storage;
    const { sql } = storage;
    sql.exec("CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, json TEXT NOT NULL)");
    sql.exec(`CREATE TABLE IF NOT EXISTS state (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      video_id TEXT,
      last_seq INTEGER NOT NULL DEFAULT -1,
      terminal_persisted INTEGER NOT NULL DEFAULT 0,
      processing_marked INTEGER NOT NULL DEFAULT 0,
      pruned_through INTEGER NOT NULL DEFAULT -1
    )`);
    sql.exec("INSERT OR IGNORE INTO state (id) VALUES (1)");
  }

  /** The bookkeeping row, read fresh (it is one SQLite row; the object keeps no copy to go stale). */
  state(): LogState {
    const row = this.storage.sql.exec<StateRow>("SELECT * FROM state WHERE id = 1").one();
    return {
      videoId: row.video_id,
      lastSeq: row.last_seq,
      terminalPersisted: row.terminal_persisted === 1,
      processingMarked: row.processing_marked === 1,
      prunedThrough: row.pruned_through,
    };
  }

  /** Records which video this object serves; false if it already serves another (never expected). */
  claim(videoId: string): boolean {
    const current = this.state().videoId;
    if (current === null) this.storage.sql.exec("UPDATE state SET video_id = ? WHERE id = 1", videoId);
    return current === null || current === videoId;
  }

  /** Stores an event as the newest one (its seq above lastSeq), trimming the log to MAX_EVENTS. */
  append(event: ProgressEvent, options: { terminal: boolean }) {
    this.storage.transactionSync(() => {
      const { sql } = this.storage;
      sql.exec("INSERT INTO events (seq, json) VALUES (?, ?)", event.seq, JSON.stringify(event));
      sql.exec(
        "UPDATE state SET last_seq = ?, terminal_persisted = terminal_persisted OR ? WHERE id = 1",
        event.seq,
        options.terminal ? 1 : 0,
      );
      const cutoff = sql
        .exec<{ seq: number }>("SELECT seq FROM events ORDER BY seq DESC LIMIT 1 OFFSET ?", MAX_EVENTS)
        .toArray()[0];
      if (cutoff) {
        sql.exec("DELETE FROM events WHERE seq <= ?", cutoff.seq);
        sql.exec("UPDATE state SET pruned_through = max(pruned_through, ?) WHERE id = 1", cutoff.seq);
      }
    });
  }

  /** Ends the job at `seq` without storing an event (its outcome was refused): later sends are duplicates. */
  endWithout(seq: number) {
    this.storage.sql.exec(
      "UPDATE state SET last_seq = max(last_seq, ?), terminal_persisted = 1 WHERE id = 1",
      seq,
    );
  }

  /**
   * Begins a new run of the job (a retry of the video) with its "queued" event, whose seq is the run's
   * base, above every seq of the runs before: the earlier runs' events go, their outcome no longer
   * counts, and the row is to be moved to processing again. A resume from before it gets a snapshot.
   */
  beginRun(queued: Extract<ProgressEvent, { type: "queued" }>) {
    this.storage.transactionSync(() => {
      const { sql } = this.storage;
      sql.exec("DELETE FROM events");
      sql.exec("INSERT INTO events (seq, json) VALUES (?, ?)", queued.seq, JSON.stringify(queued));
      sql.exec(
        `UPDATE state SET last_seq = ?, terminal_persisted = 0, processing_marked = 0,
          pruned_through = max(pruned_through, ?) WHERE id = 1`,
        queued.seq,
        queued.seq - 1,
      );
    });
  }

  /** The row has been moved to processing (or found past it): no more Postgres writes for that. */
  markProcessing() {
    this.storage.sql.exec("UPDATE state SET processing_marked = 1 WHERE id = 1");
  }

  /** The newest stored event, or null when nothing was published yet. */
  latest(): ProgressEvent | null {
    return this.#read("SELECT json FROM events ORDER BY seq DESC LIMIT 1")[0] ?? null;
  }

  /** Every stored event with seq above `since`, oldest first. */
  after(since: number): ProgressEvent[] {
    return this.#read("SELECT json FROM events WHERE seq > ? ORDER BY seq", since);
  }

  #read(query: string, ...bindings: unknown[]): ProgressEvent[] {
    const events: ProgressEvent[] = [];
    for (const row of this.storage.sql.exec<{ json: string }>(query, ...bindings)) {
      // Stored by append() from a parsed event; re-validated so a schema change cannot replay garbage.
      let event: ProgressEvent | null = null;
      try {
        event = parseProgressEvent(JSON.parse(row.json));
      } catch {
        event = null;
      }
      if (event) events.push(event);
    }
    return events;
  }
}
