import { setTimeout as sleep } from "node:timers/promises";

export interface RetryOptions {
  /** Total tries, including the first. */
  attempts: number;
  /** Delay before the second try; doubles each time (with jitter). */
  baseDelayMs: number;
  /** Whether an error is worth another try. */
  isTransient: (err: unknown) => boolean;
  signal?: AbortSignal;
}

/** Retries short network calls in-process so a blip doesn't cost a whole BullMQ attempt (a full re-encode). */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    options.signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= options.attempts || !options.isTransient(err) || options.signal?.aborted) throw err;
      const delay = options.baseDelayMs * 2 ** (attempt - 1) * (0.75 + Math.random() * 0.5);
      await sleep(delay, undefined, options.signal ? { signal: options.signal } : undefined);
    }
  }
}
