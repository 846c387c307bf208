import { UnrecoverableError } from "bullmq";

/**
 * Errors of the node's lifecycle that the processor classifies (bad media is the media core's
 * BadMediaError). Permanent ones end the job without retries; everything else is retried by BullMQ.
 */

/** The object is not in storage (HTTP 404). */
export class StorageNotFoundError extends Error {
  override name = "StorageNotFoundError";
  readonly key: string;

  constructor(key: string) {
    super(`storage object not found: ${key}`);
    this.key = key;
  }
}

/** A storage request failed; `transient` says whether trying again may help. */
export class StorageError extends Error {
  override name = "StorageError";
  readonly status: number | null;
  readonly transient: boolean;

  constructor(message: string, status: number | null, transient: boolean, options?: ErrorOptions) {
    super(message, options);
    this.status = status;
    this.transient = transient;
  }
}

/** The edge refused us with a 4xx (bad credentials, a video that no longer exists): retrying won't help. */
export class EdgeRejectedError extends Error {
  override name = "EdgeRejectedError";
  readonly status: number;
  readonly detail: string;

  constructor(status: number, detail: string) {
    super(`edge rejected the transcoder with HTTP ${status}: ${detail.slice(0, 500)}`);
    this.status = status;
    this.detail = detail;
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
