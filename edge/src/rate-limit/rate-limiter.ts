import { DurableObject } from "cloudflare:workers";
import { isRateRule, type RateDecision, type RateRule, slide } from "./window.ts";

const HITS = "hits";

/**
 * One rate-limit counter: one object per limit and key (idFromName("login:ip:203.0.113.7")), so counters
 * never contend with each other and each lives near its client. It keeps the times of the requests it
 * let through within the window (a sliding log of at most `limit` entries) in its synchronous KV storage:
 * a call reads, decides and writes without awaiting anything, so two concurrent requests can never both
 * take the last slot. An alarm set to the end of the newest hit's window deletes everything, so an idle
 * counter stores nothing. Only the Worker reaches it (RPC); every entry point logs its errors.
 */
export class RateLimiter extends DurableObject<Env> {
  /** Counts one request against `rule`: whether it may go ahead, and when to come back if not. */
  consume(rule: RateRule): Promise<RateDecision> {
    return this.#guard("consume", async () => {
      if (!isRateRule(rule)) throw new TypeError(`not a rate rule: ${JSON.stringify(rule)}`);
      const now = Date.now();
      const { hits, ...decision } = slide(this.ctx.storage.kv.get<number[]>(HITS) ?? [], now, rule);
      this.ctx.storage.kv.put(HITS, hits);
      await this.ctx.storage.setAlarm((hits.at(-1) ?? now) + rule.windowSeconds * 1000);
      return decision;
    });
  }

  /** Forgets every counted request (a successful login clears its account's failures). */
  reset(): Promise<void> {
    return this.#guard("reset", () => this.ctx.storage.deleteAll());
  }

  /** The window of the newest hit has passed: nothing left worth keeping (deleteAll also drops the alarm). */
  override alarm(): Promise<void> {
    return this.#guard("alarm", () => this.ctx.storage.deleteAll());
  }

  async #guard<T>(method: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      console.error(`RateLimiter.${method} failed [object ${this.ctx.id.toString()}]:`, error);
      throw error;
    }
  }
}
