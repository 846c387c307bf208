import { canonicalId } from "@streamlet/shared";
import type { Job } from "bullmq";
import { errorFields, type Logger } from "./log.ts";

/** Why a job was put back without running (the metrics label). */
export type DeferReason = "user_in_flight";

export const DEFER_REASONS: readonly DeferReason[] = ["user_in_flight"];

/**
 * How long a deferred job waits before it is tried again: long enough for other users' jobs to be taken
 * meanwhile, short enough that the owner's next job starts soon after a slot frees; the spread keeps two
 * nodes that deferred the same owner's jobs at the same instant from meeting again.
 */
export const DEFER_DELAY_MS = Object.freeze({ min: 2000, max: 5000 });

/** A delay within DEFER_DELAY_MS, drawn afresh for every deferral (the jitter). */
export function deferDelayMs(random: () => number = Math.random): number {
  return Math.round(DEFER_DELAY_MS.min + random() * (DEFER_DELAY_MS.max - DEFER_DELAY_MS.min));
}

/** The owner a payload names, canonical; null when it names none (processJob then fails the job). */
export function ownerOf(data: unknown): string | null {
  const raw = (data as { ownerId?: unknown } | null)?.ownerId;
  return typeof raw === "string" ? canonicalId(raw) : null;
}

export interface FairShareOptions {
  /** The jobs running now on every node: the queue's active list (bounded by nodes x concurrency). */
  active: () => Promise<ReadonlyArray<Pick<Job, "id" | "data">>>;
  /** Jobs of one owner allowed in flight at once (MAX_JOBS_IN_FLIGHT_PER_USER). */
  limit: number;
  /** The wait before a deferred job is tried again; deferDelayMs by default. */
  delayMs?: () => number;
  /**
   * The jobs waiting their turn (a page of the queue's waiting and prioritized lists). When given, an
   * owner over the limit is only deferred while another owner's job waits: with nobody else waiting, one
   * user's video may use every node (work-conserving).
   */
  waiting?: () => Promise<ReadonlyArray<Pick<Job, "id" | "data">>>;
}

export interface Deferral {
  ownerId: string;
  /** The owner's jobs that were active, this one included. */
  inFlight: number;
  delayMs: number;
}

/**
 * Counts the active jobs of `job`'s owner, this one included, and over the limit moves it to the delayed
 * set (BullMQ's manual pattern: no attempt used, no "failed" event) so other users' jobs run meanwhile.
 * Two nodes starting the same owner's jobs at once both see both and both defer: conservative, and the
 * jitter sorts it out. Answers the deferral (the caller must then throw BullMQ's DelayedError), or null
 * when the job may run. Fair share is best effort: when the count fails the job runs. A failed move
 * throws (the job's lock is most likely gone: the job is not this node's to touch any more).
 */
export async function deferIfOverShare(
  job: Pick<Job, "id" | "data" | "moveToDelayed">,
  token: string | undefined,
  options: FairShareOptions,
  log: Logger,
): Promise<Deferral | null> {
  const ownerId = ownerOf(job.data);
  if (ownerId === null) return null;
  let active: ReadonlyArray<Pick<Job, "id" | "data">>;
  try {
    active = await options.active();
  } catch (err) {
    log.warn("could not count the owner's jobs in flight; running the job", errorFields(err));
    return null;
  }
  const inFlight = active.filter((j) => j.id !== job.id && ownerOf(j.data) === ownerId).length + 1;
  if (inFlight <= options.limit) return null;
  if (options.waiting) {
    let waiting: ReadonlyArray<Pick<Job, "id" | "data">>;
    try {
      waiting = await options.waiting();
    } catch (err) {
      log.warn("could not read the waiting jobs; running the job", errorFields(err));
      return null;
    }
    if (!waiting.some((j) => ownerOf(j.data) !== ownerId)) return null;
  }
  const delayMs = (options.delayMs ?? deferDelayMs)();
  await job.moveToDelayed(Date.now() + delayMs, token);
  return { ownerId, inFlight, delayMs };
}
