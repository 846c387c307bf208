import { UnrecoverableError } from "bullmq";

/**
 * Errors the processor classifies. Bad media is permanent (no retry, reason shown to the uploader);
 * everything else is assumed transient and retried by BullMQ.
 */

/** The upload itself is unusable; `message` is written for the person who uploaded it. */
export class BadMediaError extends Error {
  override name = "BadMediaError";
}

/** The object is not in storage (HTTP 404). */
export class StorageNotFoundError extends Error {
  override name = "StorageNotFoundError";
  constructor(readonly key: string) {
    super(`storage object not found: ${key}`);
  }
}

/** A storage request failed; `transient` says whether trying again may help. */
export class StorageError extends Error {
  override name = "StorageError";
  constructor(
    message: string,
    readonly status: number | null,
    readonly transient: boolean,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The edge refused us with a 4xx (bad credentials, a video that no longer exists): retrying won't help. */
export class EdgeRejectedError extends Error {
  override name = "EdgeRejectedError";
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {
    super(`edge rejected the transcoder with HTTP ${status}: ${detail.slice(0, 500)}`);
  }
}

/**
 * The video was deleted while its job ran (the edge said so on the progress socket, or refused it with
 * 410): the job stops, removes its output and ends without retries. An UnrecoverableError for BullMQ.
 */
export class JobCancelledError extends UnrecoverableError {
  override name = "JobCancelledError";
}

/** Turns anything thrown into a one-line message for logs and failure reasons. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
