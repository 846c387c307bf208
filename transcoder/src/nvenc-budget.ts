/**
 * NVENC session budgeting. Each h264_nvenc output (one ladder rung) holds one encode session for the
 * whole job. GeForce/consumer drivers cap concurrent sessions per system (historically 2, then 3, 5, and
 * 8 on current drivers); datacenter and professional cards are uncapped. Opening one too many fails the
 * encoder with "OpenEncodeSessionEx failed: out of memory (10)".
 */

/** Conservative default for NVENC_SESSION_LIMIT: the cap of current consumer drivers. Raise it for uncapped cards. */
export const DEFAULT_NVENC_SESSION_LIMIT = 8;

export interface JobConcurrencyInput {
  encoder: "nvenc" | "x264";
  /** Concurrent NVENC sessions the GPU allows. */
  sessionLimit: number;
  /** Rungs of the tallest ladder a job can have: the sessions one job may need. */
  rungsPerJob: number;
  /** Jobs the operator asked to run at once. */
  requested: number;
}

/** How many jobs may run at once so that, with full ladders, NVENC never runs out of sessions. */
export function jobConcurrency({
  encoder,
  sessionLimit,
  rungsPerJob,
  requested,
}: JobConcurrencyInput): number {
  const wanted = Math.max(1, Math.floor(requested));
  if (encoder === "x264") return wanted;
  const perJob = Math.max(1, Math.floor(rungsPerJob));
  const fit = Math.floor(Math.max(0, sessionLimit) / perJob);
  return Math.min(wanted, Math.max(1, fit));
}

interface Waiter {
  sessions: number;
  resolve: () => void;
  reject: (err: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

/**
 * In-process counting semaphore over NVENC sessions, so a job with fewer rungs takes fewer sessions and
 * jobs wait (first come, first served) rather than fail at encoder open. Only this process is counted:
 * other processes on the same GPU are not seen.
 */
export class SessionBudget {
  #inUse = 0;
  readonly #waiters: Waiter[] = [];

  readonly limit: number;
  /** Told the sessions in use after every change (metrics). */
  readonly #onChange: ((inUse: number, limit: number) => void) | undefined;

  constructor(
    limit: number = DEFAULT_NVENC_SESSION_LIMIT,
    onChange?: (inUse: number, limit: number) => void,
  ) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`session limit must be >= 1, got ${limit}`);
    this.limit = limit;
    this.#onChange = onChange;
  }

  /** Sessions currently held (for metrics). */
  get inUse(): number {
    return this.#inUse;
  }

  /** Jobs waiting for sessions (for metrics). */
  get waiting(): number {
    return this.#waiters.length;
  }

  /**
   * Waits until `sessions` are free and takes them. A request above the limit is clamped to the
   * limit (it then runs alone) rather than waiting forever. Rejects with the signal's reason on abort.
   */
  acquire(sessions: number, signal?: AbortSignal): Promise<void> {
    const n = this.#clamp(sessions);
    signal?.throwIfAborted();
    if (this.#waiters.length === 0 && this.#inUse + n <= this.limit) {
      this.#inUse += n;
      this.#onChange?.(this.#inUse, this.limit);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        sessions: n,
        resolve,
        reject,
        signal,
        onAbort: () => {
          const at = this.#waiters.indexOf(waiter);
          if (at >= 0) this.#waiters.splice(at, 1);
          reject(signal?.reason);
          this.#drain();
        },
      };
      signal?.addEventListener("abort", waiter.onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /** Returns sessions taken with acquire(n) (pass the same n). */
  release(sessions: number): void {
    const n = this.#clamp(sessions);
    if (n > this.#inUse) throw new Error(`releasing ${n} NVENC sessions but only ${this.#inUse} are held`);
    this.#inUse -= n;
    this.#drain();
    this.#onChange?.(this.#inUse, this.limit);
  }

  /** Runs `task` holding `sessions`, releasing them however it ends. */
  async run<T>(sessions: number, task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.acquire(sessions, signal);
    try {
      return await task();
    } finally {
      this.release(sessions);
    }
  }

  #clamp(sessions: number): number {
    if (!Number.isFinite(sessions) || sessions < 1)
      throw new RangeError(`sessions must be >= 1, got ${sessions}`);
    return Math.min(Math.floor(sessions), this.limit);
  }

  #drain(): void {
    // FIFO: the head waits even if a smaller request behind it would fit, so big ladders aren't starved.
    while (this.#waiters.length > 0) {
      const head = this.#waiters[0] as Waiter;
      if (this.#inUse + head.sessions > this.limit) return;
      this.#waiters.shift();
      head.signal?.removeEventListener("abort", head.onAbort);
      this.#inUse += head.sessions;
      this.#onChange?.(this.#inUse, this.limit);
      head.resolve();
    }
  }
}
