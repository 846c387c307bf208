import { abortAllDurableObjects } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { EVENTS_PROTOCOL, MAX_MESSAGE_BYTES } from "@streamlet/shared";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { signProgressToken } from "../../src/auth/tokens.ts";
import { videos } from "../../src/db/schema.ts";
import { MAX_EVENTS } from "../../src/progress/event-log.ts";
import {
  accept,
  downloading,
  edgeFetch,
  failed,
  newUser,
  newVideo,
  publisher,
  ready,
  rendition,
  seq,
  subscribe,
  transcoding,
  videoRow,
  waitForStatus,
  withDb,
} from "./helpers.ts";

/** What DELETE /v1/videos/:id does to the progress channel once the row is gone. */
async function deleteVideo(id: string) {
  await withDb((db) => db.delete(videos).where(eq(videos.id, id)));
  return env.VIDEO_PROGRESS.get(env.VIDEO_PROGRESS.idFromName(id)).cancel();
}

describe("live progress through the video's Durable Object", () => {
  it("fans a published event out to every subscriber and acknowledges it to the publisher", async () => {
    const owner = await newUser();
    const video = await newVideo(owner.id);
    const first = await subscribe(video.id, owner.token);
    // A non-browser client: Authorization header, no subprotocol offered, none selected.
    const res = await edgeFetch(`/v1/videos/${video.id}/events`, {
      headers: { Upgrade: "websocket", Authorization: `Bearer ${owner.token}` },
    });
    expect(res.headers.get("sec-websocket-protocol")).toBeNull();
    const second = await accept(res);

    // The browser's offer was [events protocol, bearer.<token>]: only the first is selected.
    expect(first.protocol).toBe(EVENTS_PROTOCOL);
    for (const client of [first, second]) {
      expect(await client.next()).toMatchObject({ type: "snapshot", event: { type: "queued", seq: 0 } });
    }

    const transcoder = await publisher(video.id);
    const event = downloading(1);
    transcoder.publish(event);
    expect(await transcoder.next()).toEqual({ type: "ack", seq: event.seq });
    expect(await first.next()).toEqual({ type: "event", event });
    expect(await second.next()).toEqual({ type: "event", event });
    // The first non-queued event moves the row queued → processing.
    expect((await waitForStatus(video.id, "processing")).status).toBe("processing");
    for (const client of [first, second, transcoder]) client.close();
  });

  it("gives a late joiner the latest event at once, and a resuming one exactly what it missed", async () => {
    const owner = await newUser();
    const video = await newVideo(owner.id);
    const transcoder = await publisher(video.id);
    const events = [downloading(1, 10), downloading(2, 100), transcoding(3, 40), transcoding(4, 80)];
    for (const event of events) {
      transcoder.publish(event);
      expect(await transcoder.next()).toEqual({ type: "ack", seq: event.seq });
    }

    const late = await subscribe(video.id, owner.token);
    expect(await late.next()).toEqual({ type: "snapshot", event: events[3] });
    await late.nothingFor();

    const resuming = await subscribe(video.id, owner.token, `?since=${seq(2)}`);
    expect(await resuming.next()).toEqual({ type: "event", event: events[2] });
    expect(await resuming.next()).toEqual({ type: "event", event: events[3] });
    await resuming.nothingFor();

    const upToDate = await subscribe(video.id, owner.token, `?since=${seq(4)}`);
    await upToDate.nothingFor();
    // Ahead of anything stored (a client from another life of this channel): a snapshot, not silence.
    const ahead = await subscribe(video.id, owner.token, `?since=${seq(9)}`);
    expect(await ahead.next()).toEqual({ type: "snapshot", event: events[3] });

    // Live events keep flowing to resumed subscribers.
    const next = transcoding(5, 90);
    transcoder.publish(next);
    expect(await transcoder.next()).toEqual({ type: "ack", seq: next.seq });
    expect(await resuming.next()).toEqual({ type: "event", event: next });
    expect(await upToDate.next()).toEqual({ type: "event", event: next });
    for (const client of [late, resuming, upToDate, ahead, transcoder]) client.close();
  });

  it("acknowledges a re-sent event without storing or broadcasting it again", async () => {
    const owner = await newUser();
    const video = await newVideo(owner.id);
    const watcher = await subscribe(video.id, owner.token);
    await watcher.next(); // snapshot
    const transcoder = await publisher(video.id);
    const event = downloading(1);
    transcoder.publish(event);
    expect(await transcoder.next()).toEqual({ type: "ack", seq: event.seq });
    expect(await watcher.next()).toEqual({ type: "event", event });
    transcoder.publish(event);
    expect(await transcoder.next()).toEqual({ type: "ack", seq: event.seq });
    transcoder.publish({ ...downloading(1, 99), seq: seq(0) }); // below the last seq: also a duplicate
    expect(await transcoder.next()).toEqual({ type: "ack", seq: seq(0) });
    await watcher.nothingFor();
    for (const client of [watcher, transcoder]) client.close();
  });

  it("refuses a subscriber that tries to publish, and broadcasts nothing", async () => {
    const owner = await newUser();
    const video = await newVideo(owner.id);
    const intruder = await subscribe(video.id, owner.token);
    const bystander = await subscribe(video.id, owner.token);
    await intruder.next();
    await bystander.next();

    intruder.publish(ready(1));
    expect(await intruder.next()).toEqual({
      type: "error",
      code: "forbidden",
      message: "subscribers cannot publish",
    });
    await bystander.nothingFor();
    intruder.send({ type: "ping" });
    expect(await intruder.next()).toEqual({ type: "pong" });

    // Nothing was stored, and Postgres was not touched.
    const late = await subscribe(video.id, owner.token);
    expect(await late.next()).toMatchObject({ type: "snapshot", event: { type: "queued", seq: 0 } });
    expect((await videoRow(video.id)).status).toBe("queued");
    for (const client of [intruder, bystander, late]) client.close();
  });

  it("answers malformed, oversized, binary and unknown frames with bad_message and keeps serving", async () => {
    const owner = await newUser();
    const video = await newVideo(owner.id);
    const watcher = await subscribe(video.id, owner.token);
    await watcher.next();
    const transcoder = await publisher(video.id);

    const oversized = JSON.stringify({
      type: "publish",
      event: { ...downloading(1), pad: "x".repeat(MAX_MESSAGE_BYTES) },
    });
    // Under the limit in characters, over it in UTF-8 bytes.
    const wide = JSON.stringify({ type: "ping", pad: "é".repeat(MAX_MESSAGE_BYTES / 2 + 10) });
    const frames: unknown[] = [
      "{not json",
      oversized,
      wide,
      new Uint8Array([1, 2, 3]).buffer,
      { type: "subscribe" },
      { type: "publish", event: { type: "exploded", seq: seq(1), at: 1 } },
      { type: "publish", event: { ...downloading(1), percent: 101 } },
      "null",
    ];
    for (const frame of frames) {
      transcoder.send(frame);
      expect(await transcoder.next()).toMatchObject({ type: "error", code: "bad_message" });
    }
    watcher.send("{not json");
    expect(await watcher.next()).toMatchObject({ type: "error", code: "bad_message" });
    watcher.send(new Uint8Array([0]).buffer);
    expect(await watcher.next()).toMatchObject({ type: "error", code: "bad_message" });

    // Nothing reached the other socket, and both still work.
    const event = downloading(1);
    transcoder.publish(event);
    expect(await transcoder.next()).toEqual({ type: "ack", seq: event.seq });
    expect(await watcher.next()).toEqual({ type: "event", event });
    for (const client of [watcher, transcoder]) client.close();
  });

  it("writes the terminal state to Postgres once, before the ack, even when it is sent twice", async () => {
    const owner = await newUser();
    const video = await newVideo(owner.id);
    const watcher = await subscribe(video.id, owner.token);
    await watcher.next();
    const transcoder = await publisher(video.id);
    transcoder.publish(downloading(1));
    await transcoder.next();
    await watcher.next();

    const outcome = ready(2);
    transcoder.publish(outcome);
    expect(await transcoder.next()).toEqual({ type: "ack", seq: outcome.seq });
    // Written before the ack: no polling needed.
    const row = await videoRow(video.id);
    expect(row).toMatchObject({
      status: "ready",
      durationSeconds: 8,
      sourceWidth: 1280,
      sourceHeight: 720,
      renditions: [rendition],
      failureReason: null,
    });
    expect(row.readyAt).not.toBeNull();
    expect(await watcher.next()).toEqual({ type: "event", event: outcome });
    // The job is over: the publisher is closed politely; subscribers stay.
    expect(await transcoder.closed).toEqual({ code: 1000, reason: "job ended" });

    // A retry of the terminal send (say, its ack was lost) on a new connection: acked, no second write.
    const retry = await publisher(video.id);
    retry.publish(outcome);
    expect(await retry.next()).toEqual({ type: "ack", seq: outcome.seq });
    // A later, contradicting outcome is acknowledged and dropped.
    retry.publish(failed(3));
    expect(await retry.next()).toEqual({ type: "ack", seq: seq(3) });
    const after = await videoRow(video.id);
    expect(after.status).toBe("ready");
    expect(after.updatedAt.getTime()).toBe(row.updatedAt.getTime());
    expect(after.readyAt?.getTime()).toBe(row.readyAt?.getTime());
    await watcher.nothingFor();

    const late = await subscribe(video.id, owner.token);
    expect(await late.next()).toEqual({ type: "snapshot", event: outcome });
    for (const client of [watcher, retry, late]) client.close();
  });

  it("records a failure with its reason, straight from queued", async () => {
    const owner = await newUser();
    const video = await newVideo(owner.id);
    const transcoder = await publisher(video.id);
    transcoder.publish(failed(1, "the file has no video stream"));
    expect(await transcoder.next()).toEqual({ type: "ack", seq: seq(1) });
    expect(await videoRow(video.id)).toMatchObject({
      status: "failed",
      failureReason: "the file has no video stream",
    });
    transcoder.close();
  });

  it("acknowledges an outcome Postgres already holds the other way, and tells subscribers the truth", async () => {
    const owner = await newUser();
    const video = await newVideo(owner.id, { status: "failed", failureReason: "cancelled by an operator" });
    const watcher = await subscribe(video.id, owner.token);
    expect(await watcher.next()).toMatchObject({
      type: "snapshot",
      event: { type: "failed", reason: "cancelled by an operator" },
    });
    const transcoder = await publisher(video.id);
    transcoder.publish(ready(1));
    expect(await transcoder.next()).toEqual({ type: "ack", seq: seq(1) });
    expect(await watcher.next()).toMatchObject({
      type: "event",
      event: { type: "failed", seq: seq(1), reason: "cancelled by an operator" },
    });
    expect((await videoRow(video.id)).status).toBe("failed");
    watcher.close();
  });

  it("builds the first snapshot from the video row while nothing was published", async () => {
    const owner = await newUser();
    const waiting = await newVideo(owner.id, { status: "awaiting_upload" });
    const done = await newVideo(owner.id, {
      status: "ready",
      durationSeconds: 12.5,
      sourceWidth: 1920,
      sourceHeight: 1080,
      renditions: [rendition],
      readyAt: new Date(),
    });
    const broken = await newVideo(owner.id, { status: "failed", failureReason: "truncated file" });

    const a = await subscribe(waiting.id, owner.token);
    expect(await a.next()).toEqual({ type: "snapshot", event: null });
    const b = await subscribe(done.id, owner.token);
    expect(await b.next()).toEqual({
      type: "snapshot",
      event: {
        type: "ready",
        seq: 0,
        at: done.readyAt?.getTime(),
        durationSeconds: 12.5,
        sourceWidth: 1920,
        sourceHeight: 1080,
        renditions: [rendition],
      },
    });
    const c = await subscribe(broken.id, owner.token, "?since=0");
    expect(await c.next()).toMatchObject({
      type: "snapshot",
      event: { type: "failed", reason: "truncated file" },
    });
    for (const client of [a, b, c]) client.close();
  });

  it(`keeps the last ${MAX_EVENTS} events; a resume from before them gets a snapshot`, async () => {
    const owner = await newUser();
    const video = await newVideo(owner.id);
    const transcoder = await publisher(video.id);
    const total = MAX_EVENTS + 5;
    // One at a time, as over a network connection: a burst written from inside this isolate can reach
    // the object out of order, and an older seq arriving after a newer one is (rightly) a duplicate.
    for (let n = 1; n <= total; n++) {
      transcoder.publish(transcoding(n, (n / total) * 100));
      expect(await transcoder.next()).toEqual({ type: "ack", seq: seq(n) });
    }

    // Events 1-5 were trimmed: from 4, event 5 cannot be replayed, so the client gets the latest state.
    const stale = await subscribe(video.id, owner.token, `?since=${seq(4)}`);
    expect(await stale.next()).toMatchObject({ type: "snapshot", event: { seq: seq(total) } });
    await stale.nothingFor();
    // From 5 on, everything missed is still there.
    const recent = await subscribe(video.id, owner.token, `?since=${seq(5)}`);
    expect(await recent.next()).toMatchObject({ type: "event", event: { seq: seq(6) } });
    const tail = await subscribe(video.id, owner.token, `?since=${seq(total - 2)}`);
    expect(await tail.next()).toMatchObject({ type: "event", event: { seq: seq(total - 1) } });
    expect(await tail.next()).toMatchObject({ type: "event", event: { seq: seq(total) } });
    await tail.nothingFor();
    for (const client of [stale, recent, tail, transcoder]) client.close();
  });

  it("keeps its events and the terminal flag across a restart of the object", async () => {
    const owner = await newUser();
    const video = await newVideo(owner.id);
    const transcoder = await publisher(video.id);
    const progress = transcoding(1, 50);
    transcoder.publish(progress);
    await transcoder.next();
    const outcome = failed(2);
    transcoder.publish(outcome);
    expect(await transcoder.next()).toEqual({ type: "ack", seq: outcome.seq });
    const before = await videoRow(video.id);

    await abortAllDurableObjects(); // drops every object's memory; storage stays

    const resumed = await subscribe(video.id, owner.token, `?since=${seq(0)}`);
    expect(await resumed.next()).toEqual({ type: "event", event: progress });
    expect(await resumed.next()).toEqual({ type: "event", event: outcome });
    const retry = await publisher(video.id);
    retry.publish(outcome);
    expect(await retry.next()).toEqual({ type: "ack", seq: outcome.seq });
    expect((await videoRow(video.id)).updatedAt.getTime()).toBe(before.updatedAt.getTime());
    for (const client of [resumed, retry]) client.close();
  });

  it("a deleted video: the running publisher is told and closed with 4410, subscribers closed, reconnects refused with 410", async () => {
    const owner = await newUser();
    const video = await newVideo(owner.id);
    const watcher = await subscribe(video.id, owner.token);
    await watcher.next();
    const transcoder = await publisher(video.id);
    transcoder.publish(transcoding(1, 40));
    expect(await transcoder.next()).toEqual({ type: "ack", seq: seq(1) });
    await watcher.next();
    await waitForStatus(video.id, "processing"); // the object's own write is done: cancel() does the telling

    expect(await deleteVideo(video.id)).toEqual({ publishers: 1, subscribers: 1 });
    expect(await transcoder.next()).toMatchObject({ type: "error", code: "video_deleted" });
    expect(await transcoder.closed).toEqual({ code: 4410, reason: "video deleted" });
    expect(await watcher.closed).toEqual({ code: 4410, reason: "video deleted" });

    // The transcoder reconnecting (to re-send what was unacked) gets 410, which it reads as "cancelled".
    const again = await edgeFetch(`/v1/internal/videos/${video.id}/progress`, {
      headers: {
        Upgrade: "websocket",
        Authorization: `Bearer ${env.TRANSCODER_SECRET}`,
        "X-Progress-Token": await signProgressToken(video.id, env.JWT_SECRET),
      },
    });
    expect(again.status).toBe(410);
    expect(await again.json()).toMatchObject({ error: { code: "video_deleted" } });
  });

  it("a terminal event for a video deleted behind the object's back is answered video_deleted and 4410", async () => {
    const owner = await newUser();
    const video = await newVideo(owner.id);
    const transcoder = await publisher(video.id);
    transcoder.publish(downloading(1));
    expect(await transcoder.next()).toEqual({ type: "ack", seq: seq(1) });
    await waitForStatus(video.id, "processing");
    // The row goes without cancel() (a DELETE that failed half way, say): the outcome has nowhere to go.
    await withDb((db) => db.delete(videos).where(eq(videos.id, video.id)));
    transcoder.publish(ready(2));
    expect(await transcoder.next()).toMatchObject({ type: "error", code: "video_deleted" });
    expect(await transcoder.closed).toEqual({ code: 4410, reason: "video deleted" });
  });
});
