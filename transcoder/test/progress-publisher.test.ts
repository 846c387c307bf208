import { SEQ_EPOCH } from "@streamlet/shared";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { renditions } from "../../shared/test/fixtures/renditions.ts";
import { EdgeRejectedError, JobCancelledError } from "../src/errors.ts";
import { createLogger } from "../src/log.ts";
import {
  createProgressPublisher,
  ProgressAckTimeoutError,
  type ProgressPublisher,
  type PublisherOptions,
  publisherUrl,
  type TerminalUpdate,
} from "../src/progress-publisher.ts";
import { startFakeDo, waitUntil } from "./helpers/fake-do.ts";

const expected = {
  secret: "0123456789abcdef",
  token: "progress-token-1",
  videoId: "5f0c7a52-3b1e-4d6a-8f2c-9e4b1a7d3c60",
};
const ready: TerminalUpdate = {
  type: "ready",
  durationSeconds: 8,
  sourceWidth: 1280,
  sourceHeight: 720,
  renditions: [...renditions],
};
const transcoding = (percent: number) => ({
  type: "transcoding" as const,
  percent,
  rungs: [{ name: "720p", height: 720, percent }],
  fps: 60,
  speed: 2,
  etaSeconds: 3,
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let fake: Awaited<ReturnType<typeof startFakeDo>>;
const open: ProgressPublisher[] = [];
beforeEach(async () => {
  fake = await startFakeDo(expected);
});
afterEach(async () => {
  for (const p of open.splice(0)) p.close();
  await fake.close();
});

function publisher(overrides: Partial<PublisherOptions> = {}) {
  const p = createProgressPublisher({
    edgeUrl: fake.url,
    secret: expected.secret,
    videoId: expected.videoId,
    token: expected.token,
    attempt: 1,
    log: createLogger({}, () => {}),
    reconnect: { minDelayMs: 20, maxDelayMs: 100, connectTimeoutMs: 2000 },
    ...overrides,
  });
  open.push(p);
  return p;
}

describe("publisherUrl", () => {
  it("turns the edge URL into the ws(s) publisher route", () => {
    expect(publisherUrl("https://edge.example/", "a b")).toBe(
      "wss://edge.example/v1/internal/videos/a%20b/progress",
    );
    expect(publisherUrl("http://127.0.0.1:8787", "v")).toBe(
      "ws://127.0.0.1:8787/v1/internal/videos/v/progress",
    );
  });
});

describe("progress publisher against a fake DO", () => {
  it("sends both headers and numbers events attempt * SEQ_EPOCH + n", async () => {
    const p = publisher({ attempt: 2 });
    p.publish({ type: "downloading", bytes: 0, totalBytes: null, percent: 0 });
    p.publish({ type: "probing" });
    await p.finish(ready);
    expect(fake.headers[0]?.authorization).toBe(`Bearer ${expected.secret}`);
    expect(fake.headers[0]?.["x-progress-token"]).toBe(expected.token);
    expect(fake.stored().map((e) => [e.type, e.seq])).toEqual([
      ["downloading", 2 * SEQ_EPOCH + 1],
      ["probing", 2 * SEQ_EPOCH + 2],
      ["ready", 2 * SEQ_EPOCH + 3],
    ]);
    expect(p.unacked).toBe(0);
    for (const e of fake.stored()) expect(Math.abs(e.at - Date.now())).toBeLessThan(5000);
  });

  it("sends at most ~4 updates per second per stage, the latest value winning", async () => {
    const p = publisher();
    const started = Date.now();
    let percent = 0;
    while (Date.now() - started < 1000) {
      p.publish(transcoding(Math.min(100, percent)));
      percent += 1;
      await sleep(5);
    }
    const last = percent - 1;
    await sleep(300); // the last coalesced value goes out at the next slot
    const sent = fake.received.map((r) => r.event);
    expect(sent.length).toBeGreaterThanOrEqual(4);
    expect(sent.length).toBeLessThanOrEqual(6);
    expect(percent).toBeGreaterThan(50); // many more updates were offered than sent
    const gaps = fake.received.slice(1).map((r, i) => r.at - (fake.received[i]?.at ?? 0));
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(200);
    expect(sent.at(-1)).toMatchObject({ type: "transcoding", percent: Math.min(100, last) });
  });

  it("a stage change flushes the coalesced update and sends the new stage at once", async () => {
    const p = publisher();
    await waitUntil(() => fake.connections() === 1);
    p.publish(transcoding(10));
    p.publish(transcoding(20));
    p.publish(transcoding(30)); // replaces 20
    p.publish({ type: "uploading", percent: 0, files: 0, totalFiles: 5 });
    await waitUntil(() => fake.received.length === 3, 200, "three frames without waiting for the throttle");
    expect(
      fake.received.map((r) => `${r.event.type}:${"percent" in r.event ? r.event.percent : ""}`),
    ).toEqual(["transcoding:10", "transcoding:30", "uploading:0"]);
  });

  it("never drops or delays a terminal event, and finish() resolves only on its ack", async () => {
    fake.behaviour.ackDelayMs = 200;
    const p = publisher();
    await waitUntil(() => fake.connections() === 1);
    for (let i = 0; i <= 50; i++) p.publish(transcoding(i));
    const started = Date.now();
    let resolvedAt = 0;
    const done = p.finish(ready).then(() => {
      resolvedAt = Date.now();
    });
    await waitUntil(() => fake.received.some((r) => r.event.type === "ready"), 150, "ready at once");
    expect(resolvedAt).toBe(0);
    await done;
    expect(resolvedAt - started).toBeGreaterThanOrEqual(190);
    const types = fake.received.map((r) => r.event.type);
    expect(types.at(-1)).toBe("ready");
    // The coalesced latest value went out before the terminal event.
    expect(fake.received.at(-2)?.event).toMatchObject({ type: "transcoding", percent: 50 });
    // Nothing more is accepted after finish().
    p.publish(transcoding(100));
    await sleep(300);
    expect(fake.received.at(-1)?.event.type).toBe("ready");
  });

  it("re-sends every unacked event, in order, after the connection drops", async () => {
    fake.behaviour.ack = false;
    fake.behaviour.dropAfter = 3;
    const p = publisher({ minIntervalMs: 0 });
    p.publish({ type: "downloading", bytes: 0, totalBytes: 100, percent: 0 });
    p.publish({ type: "probing" });
    p.publish(transcoding(5));
    await waitUntil(() => fake.connections() === 2, 3000, "a reconnect");
    fake.behaviour.ack = true;
    p.publish(transcoding(50));
    await p.finish(ready);
    const first = fake.received.filter((r) => r.connection === 1).map((r) => r.event.seq);
    const second = fake.received.filter((r) => r.connection === 2).map((r) => r.event.seq);
    expect(first).toEqual([SEQ_EPOCH + 1, SEQ_EPOCH + 2, SEQ_EPOCH + 3]);
    // The three unacked ones again (the DO dedups them), then the new ones; strictly in seq order.
    expect(second).toEqual([SEQ_EPOCH + 1, SEQ_EPOCH + 2, SEQ_EPOCH + 3, SEQ_EPOCH + 4, SEQ_EPOCH + 5]);
    expect(fake.stored().map((e) => e.type)).toEqual([
      "downloading",
      "probing",
      "transcoding",
      "transcoding",
      "ready",
    ]);
    expect(p.unacked).toBe(0);
  });

  it("keeps events published while disconnected and delivers them once back", async () => {
    const p = publisher({ minIntervalMs: 0, reconnect: { minDelayMs: 300, maxDelayMs: 300 } });
    p.publish({ type: "probing" });
    await waitUntil(() => fake.received.length === 1);
    fake.dropAll();
    await sleep(20);
    p.publish(transcoding(1));
    p.publish({ type: "uploading", percent: 0, files: 0, totalFiles: 2 });
    await p.finish(ready);
    expect(fake.stored().map((e) => e.type)).toEqual(["probing", "transcoding", "uploading", "ready"]);
  });

  it("duplicate acks and acks for unknown seqs are harmless", async () => {
    fake.behaviour.duplicateAcks = true;
    const p = publisher({ minIntervalMs: 0 });
    p.publish({ type: "probing" });
    p.publish(transcoding(1));
    await p.finish({ type: "failed", reason: "The uploaded file has no video stream" });
    expect(p.unacked).toBe(0);
    expect(fake.stored().at(-1)).toMatchObject({ type: "failed", seq: SEQ_EPOCH + 3 });
  });

  it("sends the terminal event again when the DO could not write it to Postgres", async () => {
    fake.behaviour.failTerminal = 2;
    const p = publisher({ resendAfterErrorMs: 50 });
    await p.finish(ready);
    const readies = fake.received.filter((r) => r.event.type === "ready").map((r) => r.event.seq);
    expect(readies).toEqual([SEQ_EPOCH + 1, SEQ_EPOCH + 1, SEQ_EPOCH + 1]);
  });

  it("closes its socket once the terminal event is acked", async () => {
    const p = publisher();
    await p.finish(ready);
    await waitUntil(() => fake.openSockets() === 0, 2000, "the publisher to close");
    await sleep(150);
    expect(fake.connections()).toBe(1);
  });

  it("times out with a transient error when the terminal event is never acked", async () => {
    fake.behaviour.ack = false;
    const p = publisher({ ackTimeoutMs: 300 });
    const started = Date.now();
    const err = await p.finish(ready).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProgressAckTimeoutError);
    expect((err as Error).message).toMatch(
      /did not acknowledge the ready event \(seq 1000001\) within 300 ms/,
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(p.unacked).toBe(1);
  });

  it("a refused upgrade (4xx) fails finish() at once as a rejection, without waiting for the timeout", async () => {
    fake.behaviour.refuse = 403;
    const p = publisher({ ackTimeoutMs: 30_000 });
    p.publish({ type: "probing" });
    const started = Date.now();
    const err = await p.finish(ready).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EdgeRejectedError);
    expect((err as EdgeRejectedError).status).toBe(403);
    expect(Date.now() - started).toBeLessThan(5000);
    await expect(p.finish(ready)).rejects.toBeInstanceOf(EdgeRejectedError);
  });

  it("410 to the upgrade (the video was deleted) cancels the job instead of failing it", async () => {
    fake.behaviour.refuse = 410;
    const p = publisher({ ackTimeoutMs: 30_000 });
    p.publish({ type: "probing" });
    const err = await p.finish(ready).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobCancelledError);
    expect(p.cancelled.aborted).toBe(true);
    expect(p.cancelled.reason).toBe(err);
  });

  it("a video_deleted message and close 4410 on an open socket cancel the job and stop reconnecting", async () => {
    const p = publisher({ ackTimeoutMs: 30_000 });
    p.publish({ type: "probing" });
    await waitUntil(() => fake.received.length === 1, 5000, "the first event");
    const pending = p.finish(ready).catch((e: unknown) => e);
    fake.deleteVideo();
    expect(await pending).toBeInstanceOf(JobCancelledError);
    expect(p.cancelled.aborted).toBe(true);
    const connections = fake.connections();
    await new Promise((r) => setTimeout(r, 800));
    expect(fake.connections()).toBe(connections);
    expect(fake.openSockets()).toBe(0);
  });

  it("wrong credentials are refused by the DO (401)", async () => {
    const p = publisher({ token: "someone-elses-token" });
    const err = await p.finish(ready).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EdgeRejectedError);
    expect((err as EdgeRejectedError).status).toBe(401);
  });

  it("retries a 5xx upgrade until it succeeds", async () => {
    fake.behaviour.refuse = 503;
    const p = publisher();
    p.publish({ type: "probing" });
    await waitUntil(() => fake.headers.length >= 2, 3000, "a second upgrade attempt");
    fake.behaviour.refuse = undefined;
    await p.finish(ready);
    expect(fake.stored().map((e) => e.type)).toEqual(["probing", "ready"]);
  });

  it("close() closes the socket and rejects a finish() still waiting", async () => {
    fake.behaviour.ack = false;
    const p = publisher();
    await waitUntil(() => fake.openSockets() === 1);
    const waiting = p.finish(ready);
    p.close();
    await expect(waiting).rejects.toThrow(/closed before the terminal event was acknowledged/);
    await waitUntil(() => fake.openSockets() === 0, 2000, "the server to see the close");
    await sleep(200);
    expect(fake.connections()).toBe(1); // no reconnect after close()
  });

  it("refuses an event that breaks the contract instead of sending it", async () => {
    const p = publisher();
    expect(() => p.publish({ ...transcoding(101) })).toThrow();
    await expect(p.finish({ type: "failed", reason: "" })).rejects.toThrow();
  });
});
