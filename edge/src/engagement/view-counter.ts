import { DurableObject } from "cloudflare:workers";
import type { ViewReceipt } from "@streamlet/shared";
import { loadConfig } from "../config.ts";
import { loggable } from "../errors.ts";
import { openEngagementStore } from "./open-store.ts";
import { ViewLedger } from "./view-ledger.ts";

/** Counted views wait at most this long before they are written to the store... */
export const FLUSH_INTERVAL_MS = 10_000;
/** ...or are written at once when this many are waiting. */
export const FLUSH_AT_PENDING = 100;
/** After a failed write, the next attempt (the views stay pending meanwhile). */
export const RETRY_MS = 30_000;
/** How long one write to the store may take before it counts as failed. */
const STORE_TIMEOUT_MS = 10_000;

/**
 * One video's view counter (one object per video: idFromName(videoId)). The Worker asks it to count a
 * view for a viewer key; it counts each viewer at most once per VIEW_WINDOW_MS and adds the counted views
 * up, and its alarm writes them to the engagement store in one batch (every FLUSH_INTERVAL_MS, or at once
 * at FLUSH_AT_PENDING), never one write per view. The same alarm forgets expired viewers. Delivery to the
 * store is at least once: a write that succeeds just before the object is evicted is repeated.
 */
export class ViewCounter extends DurableObject<Env> {
  #log: ViewLedger | undefined;
  /** A write to the store in flight (forget() waits for it, so it cannot land after the delete). */
  #flushing: Promise<void> | null = null;
  /** forget() ran: the video is being deleted; views are no longer counted by this instance. */
  #forgotten = false;

  /** Counts a view of `videoId` by `viewer` (a key from viewerKey); RPC from the Worker only. */
  view(videoId: string, viewer: string): Promise<ViewReceipt> {
    return this.#guard("view", async () => {
      if (this.#forgotten) return { counted: false };
      const ledger = this.#ledger();
      if (!ledger.claim(videoId))
        throw new Error(`refused a view for video ${videoId}: this object counts another`);
      const now = Date.now();
      const counted = ledger.record(viewer, now);
      if (counted) {
        await this.#scheduleNoLaterThan(ledger.pending() >= FLUSH_AT_PENDING ? now : now + FLUSH_INTERVAL_MS);
      }
      return { counted };
    });
  }

  /** The video was deleted: drops pending views and forgets every viewer (RPC from the Worker's DELETE). */
  forget(): Promise<void> {
    return this.#guard("forget", async () => {
      this.#forgotten = true;
      await this.#flushing?.catch(() => undefined);
      await this.ctx.storage.deleteAlarm();
      await this.ctx.storage.deleteAll();
      this.#log = undefined;
    });
  }

  /** Flushes pending views to the store, forgets expired viewers, and schedules what comes next. */
  override alarm(): Promise<void> {
    return this.#guard("alarm", async () => {
      if (this.#forgotten) return;
      const ledger = this.#ledger();
      const videoId = ledger.videoId();
      const pending = ledger.pending();
      if (videoId !== null && pending > 0) {
        try {
          this.#flushing = this.#flush(videoId, pending);
          await this.#flushing;
          if (this.#forgotten) return;
          ledger.flushed(pending);
        } catch (error) {
          if (this.#forgotten) return;
          console.error(
            `ViewCounter.alarm [video ${videoId}]: writing ${pending} views failed:`,
            loggable(error),
          );
          ledger.purge(Date.now());
          await this.ctx.storage.setAlarm(Date.now() + RETRY_MS);
          return;
        } finally {
          this.#flushing = null;
        }
      }
      const now = Date.now();
      ledger.purge(now);
      // Views counted while the write was in flight wait for the next round; otherwise wake up only to
      // forget the next viewer whose window ends.
      const next = ledger.pending() > 0 ? now + FLUSH_INTERVAL_MS : ledger.nextExpiry();
      if (next !== null) await this.#scheduleNoLaterThan(next);
    });
  }

  async #flush(videoId: string, count: number): Promise<void> {
    const { store, close } = await openEngagementStore(loadConfig(this.env));
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        store.addViews([{ videoId, count }]),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`the engagement store did not answer within ${STORE_TIMEOUT_MS} ms`)),
            STORE_TIMEOUT_MS,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
      close().catch((error: unknown) =>
        console.error("ViewCounter: closing the engagement store failed:", loggable(error)),
      );
    }
  }

  /** Sets the alarm to `at` unless one is already due sooner. */
  async #scheduleNoLaterThan(at: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }

  #ledger(): ViewLedger {
    this.#log ??= new ViewLedger(this.ctx.storage);
    return this.#log;
  }

  async #guard<T>(method: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      console.error(`ViewCounter.${method} failed [object ${this.ctx.id.toString()}]:`, loggable(error));
      throw error;
    }
  }
}
