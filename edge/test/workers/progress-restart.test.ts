import { env } from "cloudflare:workers";
import { type ProgressEvent, runSeqBase, SEQ_EPOCH, seqAttempt } from "@streamlet/shared";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { videos } from "../../src/db/schema.ts";
import {
  downloading,
  failed,
  newUser,
  newVideo,
  publisher,
  rendition,
  seq,
  subscribe,
  videoRow,
  waitForStatus,
  withDb,
} from "./helpers.ts";

/** The seq of event `n` of attempt `attempt` of run `run`, numbered as the transcoder's publisher does. */
const runSeq = (run: number, n: number, attempt = 1) => seqAttempt(run, attempt) * SEQ_EPOCH + n;

const progressOf = (id: string) => env.VIDEO_PROGRESS.get(env.VIDEO_PROGRESS.idFromName(id));

/** What the retry route does to the row before the new run: failed → queued, the outcome forgotten. */
async function resetRow(id: string, run: number) {
  await withDb((db) =>
    db
      .update(videos)
      .set({ status: "queued", failureReason: null, playableAt: null, transcodeRun: run })
      .where(eq(videos.id, id)),
  );
}

/** A video whose first run ended `failed` (stored, in Postgres, broadcast), with a subscriber that saw it. */
async function failedVideo() {
  const owner = await newUser();
  const video = await newVideo(owner.id);
  const watcher = await subscribe(video.id, owner.token);
  expect(await watcher.next()).toMatchObject({ type: "snapshot", event: { type: "queued", seq: 0 } });
  const first = await publisher(video.id);
  const outcome = failed(2, "the encoder crashed");
  for (const event of [downloading(1), outcome]) {
    first.publish(event);
    expect(await first.next()).toEqual({ type: "ack", seq: event.seq });
    expect(await watcher.next()).toEqual({ type: "event", event });
  }
  expect(await first.closed).toEqual({ code: 1000, reason: "job ended" });
  expect((await videoRow(video.id)).status).toBe("failed");
  return { owner, video, watcher, outcome };
}

const downloadingIn = (run: number, n: number): ProgressEvent => ({
  ...downloading(n),
  seq: runSeq(run, n),
});

describe("a retried video's progress channel (VideoProgress.restart)", () => {
  it("begins a new run after a terminal one: subscribers get its queued event, its events are stored, broadcast and persisted", async () => {
    const { owner, video, watcher } = await failedVideo();
    await resetRow(video.id, 2);

    expect(await progressOf(video.id).restart(2)).toBe("restarted");
    const queued = { type: "queued", seq: runSeqBase(2) };
    // Above every seq of the first run: clients that drop what they have seen take it as the next event.
    expect(runSeqBase(2)).toBeGreaterThan(seq(999_999, 999));
    expect(await watcher.next()).toMatchObject({ type: "event", event: queued });
    // Idempotent: a repeat (or an older run) changes nothing and tells nobody.
    expect(await progressOf(video.id).restart(2)).toBe("unchanged");
    expect(await progressOf(video.id).restart(1)).toBe("unchanged");
    await watcher.nothingFor();

    const second = await publisher(video.id);
    const started = downloadingIn(2, 1);
    second.publish(started);
    expect(await second.next()).toEqual({ type: "ack", seq: started.seq });
    expect(await watcher.next()).toEqual({ type: "event", event: started });
    // The new run moves the row queued → processing again.
    expect((await waitForStatus(video.id, "processing")).status).toBe("processing");

    const outcome: ProgressEvent = {
      type: "ready",
      seq: runSeq(2, 2),
      at: Date.now(),
      durationSeconds: 8,
      sourceWidth: 1280,
      sourceHeight: 720,
      renditions: [rendition],
    };
    second.publish(outcome);
    expect(await second.next()).toEqual({ type: "ack", seq: outcome.seq });
    expect(await watcher.next()).toEqual({ type: "event", event: outcome });
    expect(await videoRow(video.id)).toMatchObject({ status: "ready", failureReason: null });
    expect(await second.closed).toEqual({ code: 1000, reason: "job ended" });

    // A joiner gets the second run's outcome; one resuming from the first run gets a snapshot of it too.
    const late = await subscribe(video.id, owner.token);
    expect(await late.next()).toEqual({ type: "snapshot", event: outcome });
    const resuming = await subscribe(video.id, owner.token, `?since=${seq(1)}`);
    expect(await resuming.next()).toEqual({ type: "snapshot", event: outcome });
    // One resuming within the second run gets exactly what came after.
    const within = await subscribe(video.id, owner.token, `?since=${runSeqBase(2)}`);
    expect(await within.next()).toEqual({ type: "event", event: started });
    expect(await within.next()).toEqual({ type: "event", event: outcome });
    for (const client of [watcher, late, resuming, within]) client.close();
  });

  it("acknowledges and drops what the first run's publisher still sends after the restart", async () => {
    const { owner, video, watcher, outcome } = await failedVideo();
    await resetRow(video.id, 2);
    expect(await progressOf(video.id).restart(2)).toBe("restarted");
    expect(await watcher.next()).toMatchObject({ type: "event", event: { type: "queued" } });

    const stale = await publisher(video.id);
    // The first run's outcome re-sent (its ack was lost), and events numbered after it.
    for (const event of [outcome, downloading(3), failed(4, "late failure")]) {
      stale.publish(event);
      expect(await stale.next()).toEqual({ type: "ack", seq: event.seq });
    }
    await watcher.nothingFor();
    // Nothing of it reached Postgres: the new run's row stays queued.
    expect(await videoRow(video.id)).toMatchObject({ status: "queued", failureReason: null });

    const joiner = await subscribe(video.id, owner.token);
    expect(await joiner.next()).toMatchObject({
      type: "snapshot",
      event: { type: "queued", seq: runSeqBase(2) },
    });

    // The second run is heard beside it.
    const second = await publisher(video.id);
    const started = downloadingIn(2, 1);
    second.publish(started);
    expect(await second.next()).toEqual({ type: "ack", seq: started.seq });
    expect(await watcher.next()).toEqual({ type: "event", event: started });
    expect(await joiner.next()).toEqual({ type: "event", event: started });
    for (const client of [watcher, joiner, stale, second]) client.close();
  });

  it("begins the run with its first event when that arrives before restart()", async () => {
    const { video, watcher } = await failedVideo();
    await resetRow(video.id, 2);

    const second = await publisher(video.id);
    const started = downloadingIn(2, 1);
    second.publish(started);
    expect(await second.next()).toEqual({ type: "ack", seq: started.seq });
    expect(await watcher.next()).toMatchObject({
      type: "event",
      event: { type: "queued", seq: runSeqBase(2) },
    });
    expect(await watcher.next()).toEqual({ type: "event", event: started });
    expect((await waitForStatus(video.id, "processing")).status).toBe("processing");
    // The Worker's restart, arriving late, changes nothing.
    expect(await progressOf(video.id).restart(2)).toBe("unchanged");
    await watcher.nothingFor();

    // A failed second run is recorded like the first.
    const outcome = { ...failed(2, "failed again"), seq: runSeq(2, 2) };
    second.publish(outcome);
    expect(await second.next()).toEqual({ type: "ack", seq: outcome.seq });
    expect(await watcher.next()).toEqual({ type: "event", event: outcome });
    expect(await videoRow(video.id)).toMatchObject({ status: "failed", failureReason: "failed again" });
    for (const client of [watcher, second]) client.close();
  });

  it("refuses a run number that is not one", async () => {
    const { video, watcher } = await failedVideo();
    for (const run of [0, -1, 1.5, Number.NaN, 1e9]) {
      expect(await progressOf(video.id).restart(run)).toBe("failed");
    }
    await watcher.nothingFor();
    watcher.close();
  });
});
