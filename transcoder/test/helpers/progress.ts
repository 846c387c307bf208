import type { ProgressPublisher } from "../../src/progress-publisher.ts";

/** A progress channel that accepts every event and never cancels: for tests that don't read progress. */
export function silentPublisher(): ProgressPublisher {
  return {
    publish: () => {},
    finish: async () => {},
    close: () => {},
    unacked: 0,
    refusal: null,
    cancelled: new AbortController().signal,
  };
}
