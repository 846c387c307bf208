export const QUEUE_STATES = ["waiting", "active", "delayed", "failed"] as const;
export type QueueState = (typeof QUEUE_STATES)[number];
export type QueueDepth = Record<QueueState, number>;

/** The one BullMQ Queue method this needs, so tests can pass a function and main can pass a Queue. */
export interface JobCountSource {
  getJobCounts(...states: QueueState[]): Promise<Record<string, number>>;
}

export interface QueueDepthOptions {
  /** A scrape never waits longer than this for Redis. */
  timeoutMs?: number;
  /** Scrapes within this window share one answer, so many scrapers cost Redis one round trip. */
  cacheMs?: number;
  now?: () => number;
}

/**
 * Reads queue depth at scrape time, cached briefly, with a timeout; resolves null (never rejects) when Redis
 * is slow or down, so /metrics answers fast and shows no stale depth.
 */
export function createQueueDepth(
  source: JobCountSource,
  { timeoutMs = 1000, cacheMs = 2000, now = Date.now }: QueueDepthOptions = {},
): () => Promise<QueueDepth | null> {
  let cached: { at: number; value: QueueDepth } | null = null;
  // At most one Redis call outstanding: a scrape that timed out does not start a pile of new ones.
  let call: Promise<QueueDepth | null> | null = null;

  const ask = (): Promise<QueueDepth | null> =>
    source
      .getJobCounts(...QUEUE_STATES)
      .then((counts) => {
        const value = Object.fromEntries(QUEUE_STATES.map((s) => [s, Number(counts[s] ?? 0)])) as QueueDepth;
        cached = { at: now(), value };
        return value;
      })
      .catch(() => null)
      .finally(() => {
        call = null;
      });

  return async () => {
    if (cached && now() - cached.at < cacheMs) return cached.value;
    call ??= ask();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), timeoutMs);
      timer.unref();
    });
    try {
      return await Promise.race([call, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };
}
