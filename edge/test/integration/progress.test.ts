import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { BEARER_PROTOCOL_PREFIX, EVENTS_PROTOCOL, type ProgressEvent, Video } from "@streamlet/shared";
import { eventsUrl, type ProgressClientError } from "@streamlet/shared/progress-client";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import WebSocket from "ws";
import { signedUpClient, waitForProgressEnd, watchProgress } from "../../../scripts/stack/client.ts";
import { makeClip } from "../../../scripts/stack/clip.ts";

const edge = inject("edgeUrl");
let dir: string;
let clip: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "streamlet-progress-"));
  clip = await makeClip(path.join(dir, "clip.mp4"), { seconds: 8, width: 1280, height: 720, fps: 30 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const newUser = () => signedUpClient(edge, "progress");

/** The HTTP status the edge answers a subscriber's upgrade with (101 when it is accepted). */
function upgradeStatus(videoId: string, protocols: string[], headers: Record<string, string> = {}) {
  return new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(eventsUrl(edge, videoId), protocols, { headers });
    ws.once("unexpected-response", (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.once("upgrade", () => resolve(101));
    ws.once("open", () => ws.close());
    ws.once("error", (err) => {
      if (!/Unexpected server response/.test(err.message)) reject(err);
    });
  });
}

/** Stage order with repeats collapsed. */
const stagesOf = (events: ProgressEvent[]) =>
  events.map((e) => e.type).filter((t, i, all) => t !== all[i - 1]);

describe("live transcode progress over the video's WebSocket", () => {
  it("streams every stage of a real transcode, in order, ending in ready", async () => {
    const api = await newUser();
    const created = await api.createVideo("progress.mp4", clip);
    const id = created.video.id;
    const events: ProgressEvent[] = [];
    const snapshots: (ProgressEvent | null)[] = [];
    const errors: ProgressClientError[] = [];
    let joined: () => void = () => {};
    const subscribed = new Promise<void>((resolve) => {
      joined = resolve;
    });
    // Subscribed BEFORE the upload is confirmed, as the uploader's page would be.
    const outcome = waitForProgressEnd(edge, id, api.accessToken(), {
      timeoutMs: 180_000,
      onEvent: (e) => events.push(e),
      onSnapshot: (e) => {
        snapshots.push(e);
        joined();
      },
      onError: (e) => errors.push(e),
    });
    await subscribed;
    expect(snapshots).toEqual([null]); // awaiting upload: nothing to show yet

    await api.upload(created, clip);
    expect((await api.markUploaded(id)).video.status).toBe("queued");
    const terminal = await outcome;
    expect(errors).toEqual([]);
    expect(terminal.type).toBe("ready");
    expect(events.at(-1)).toEqual(terminal);

    // queued (seq 0) only shows up if the edge stored one; after it, the transcoder's stages in order.
    const stages = stagesOf(events).filter((t) => t !== "queued");
    // Playable once the first chunk of every rung and the first audio segment are stored; the other
    // chunks follow (transcoding again), then ready.
    expect(stages).toEqual(["downloading", "probing", "transcoding", "playable", "transcoding", "ready"]);
    const seqs = events.map((e) => e.seq);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1] ?? -1);

    // Every percent only goes up within its stage and per rung; the rungs are the planned ladder.
    const last = new Map<string, number>();
    const monotonic = (key: string, value: number) => {
      expect(value, key).toBeGreaterThanOrEqual(last.get(key) ?? 0);
      expect(value, key).toBeLessThanOrEqual(100);
      last.set(key, value);
    };
    for (const e of events) {
      if ("percent" in e) monotonic(e.type, e.percent);
      if (e.type === "transcoding") {
        expect(e.rungs.map((r) => `${r.name}:${r.height}`)).toEqual(["720p:720", "480p:480"]);
        for (const r of e.rungs) monotonic(`rung ${r.name}`, r.percent);
      }
    }
    const transcoding = events.filter((e) => e.type === "transcoding");
    expect(transcoding.length).toBeGreaterThan(1);
    expect(transcoding.at(-1)).toMatchObject({ percent: 100 });
    expect(transcoding.at(-1)?.rungs.every((r) => r.percent === 100)).toBe(true);
    // Chunks are counted as they are stored, and the last transcoding event has them all.
    const chunksTotal = transcoding[0]?.chunksTotal ?? 0;
    expect(chunksTotal).toBeGreaterThan(1);
    expect(transcoding.at(-1)).toMatchObject({ chunksDone: chunksTotal, chunksTotal });
    expect(events.find((e) => e.type === "playable")).toMatchObject({ segmentsPublished: 1 });
    // The download runs beside the probe and the encode (ffmpeg reads the header, chunk 1 and the audio
    // over a presigned URL), so "downloading" only marks the start.
    expect(events.filter((e) => e.type === "downloading")).toMatchObject([{ percent: 0 }]);

    if (terminal.type !== "ready") throw new Error("unreachable");
    expect(terminal.sourceWidth).toBe(1280);
    expect(terminal.sourceHeight).toBe(720);
    expect(terminal.durationSeconds).toBeGreaterThan(7.5);
    expect(terminal.renditions.map((r) => r.height).sort((a, b) => b - a)).toEqual([720, 480]);

    // The edge writes the outcome to Postgres before it sends it: the row is ready right away.
    const video = Video.parse(await api.getVideo(id));
    expect(video.status).toBe("ready");
    expect(video.renditions).toEqual(terminal.renditions);
    expect(video.durationSeconds).toBe(terminal.durationSeconds);

    // A subscriber joining after the end gets the ready snapshot at once.
    const lateSnapshots: (ProgressEvent | null)[] = [];
    const joinedAt = Date.now();
    const late = await waitForProgressEnd(edge, id, api.accessToken(), {
      timeoutMs: 10_000,
      onSnapshot: (e) => lateSnapshots.push(e),
    });
    expect(Date.now() - joinedAt).toBeLessThan(3000);
    expect(late).toEqual(terminal);
    expect(lateSnapshots).toEqual([terminal]);

    // Resuming from a seq replays exactly what came after it.
    const middle = events[Math.floor(events.length / 2)];
    const replayed: ProgressEvent[] = [];
    await waitForProgressEnd(edge, id, api.accessToken(), {
      since: middle?.seq,
      timeoutMs: 10_000,
      onEvent: (e) => replayed.push(e),
    });
    expect(replayed).toEqual(events.filter((e) => e.seq > (middle?.seq ?? 0)));
  });

  it("refuses a subscriber with another user's token, or with none", async () => {
    const owner = await newUser();
    const other = await newUser();
    const { video } = await owner.createVideo("private.mp4", 1000);
    expect(
      await upgradeStatus(video.id, [EVENTS_PROTOCOL, `${BEARER_PROTOCOL_PREFIX}${owner.accessToken()}`]),
    ).toBe(101);
    // Another user's video looks like no video at all.
    expect(
      await upgradeStatus(video.id, [EVENTS_PROTOCOL, `${BEARER_PROTOCOL_PREFIX}${other.accessToken()}`]),
    ).toBe(404);
    expect(await upgradeStatus(video.id, [EVENTS_PROTOCOL])).toBe(401);
    expect(
      await upgradeStatus(video.id, [EVENTS_PROTOCOL, `${BEARER_PROTOCOL_PREFIX}forged.token.here`]),
    ).toBe(401);

    // Through the client helper: a socket error, no event, and it gives up when told to.
    const events: ProgressEvent[] = [];
    const errors: ProgressClientError[] = [];
    const err = await waitForProgressEnd(edge, video.id, other.accessToken(), {
      maxRetries: 1,
      minReconnectDelayMs: 50,
      timeoutMs: 10_000,
      onEvent: (e) => events.push(e),
      onError: (e) => errors.push(e),
    }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/gave up: Unexpected server response: 404/);
    expect(events).toEqual([]);
    expect(errors.map((e) => e.kind)).toEqual(["socket", "socket"]);
  });

  it("a watcher that joins after the upload was confirmed starts from the snapshot and reaches ready", async () => {
    const api = await newUser();
    const created = await api.createVideo("queued.mp4", clip);
    await api.upload(created, clip);
    await api.markUploaded(created.video.id);
    const events: ProgressEvent[] = [];
    const sub = watchProgress(edge, created.video.id, api.accessToken(), { onEvent: (e) => events.push(e) });
    try {
      const deadline = Date.now() + 180_000;
      while (events.at(-1)?.type !== "ready" && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
      // The snapshot is queued (seq 0, from the row) or a later stage if the transcoder was quick.
      expect(["queued", "downloading", "probing", "transcoding"]).toContain(events[0]?.type);
      expect(events.at(-1)?.type).toBe("ready");
      const seqs = events.map((e) => e.seq);
      expect(seqs).toEqual([...new Set(seqs)].sort((a, b) => a - b));
    } finally {
      sub.close();
    }
  });
});
