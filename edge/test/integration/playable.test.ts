import {
  EVENTS_PROTOCOL,
  eventsPath,
  MASTER_PLAYLIST,
  outputPrefix,
  PROGRESS_TOKEN_HEADER,
  type ProgressEvent,
  publisherPath,
  SEQ_EPOCH,
  Video,
  type Visibility,
} from "@streamlet/shared";
import { afterAll, describe, expect, it } from "vitest";
import type WebSocket from "ws";
import { rendition720p } from "../../../shared/test/fixtures/renditions.ts";
import {
  call,
  edge,
  expectError,
  MASTER,
  nextMessage,
  openDb,
  progressToken,
  putObject,
  SEGMENT,
  type TestUser,
  upgrade,
  user,
  vars,
  videoRow,
} from "./helpers.ts";

// Watching a video while it is still processing, through the real stack (wrangler dev with its edge cache,
// the VideoProgress object, Postgres through the Neon bridge, s3rver): the transcoder's EVENT playlists are
// served once its `playable` event is recorded, on a short TTL, and the final ones once it is ready.
const { db, end } = openDb();
afterAll(() => end());

const VARIANT = "720p/index.m3u8";
const eventPlaylist = (segments: number, end = false) =>
  [
    "#EXTM3U",
    "#EXT-X-VERSION:7",
    "#EXT-X-TARGETDURATION:2",
    `#EXT-X-PLAYLIST-TYPE:${end ? "VOD" : "EVENT"}`,
    "#EXT-X-START:TIME-OFFSET=0",
    '#EXT-X-MAP:URI="init.mp4"',
    ...Array.from({ length: segments }, (_, i) => `#EXTINF:2.0,\nseg_${String(i + 1).padStart(5, "0")}.m4s`),
    ...(end ? ["#EXT-X-ENDLIST"] : []),
    "",
  ].join("\n");

/** A processing video of `owner` whose transcoder has stored a provisional master and a first segment. */
async function processingVideo(owner: TestUser, visibility: Visibility) {
  const row = await videoRow(db, owner.id, { visibility, status: "processing", title: "live" });
  const prefix = outputPrefix(row.id);
  await putObject(`${prefix}${MASTER_PLAYLIST}`, MASTER);
  await putObject(`${prefix}${VARIANT}`, eventPlaylist(1));
  await putObject(`${prefix}720p/init.mp4`, SEGMENT);
  await putObject(`${prefix}720p/seg_00001.m4s`, SEGMENT);
  return row;
}

/** The transcoder's publisher socket for a video (its secret plus the job's progress token). */
async function openPublisher(videoId: string): Promise<WebSocket> {
  const res = await upgrade(publisherPath(videoId), {
    protocols: [EVENTS_PROTOCOL],
    headers: {
      authorization: `Bearer ${vars.TRANSCODER_SECRET}`,
      [PROGRESS_TOKEN_HEADER]: await progressToken(videoId),
    },
  });
  if (!res.ws) throw new Error(`publisher upgrade: ${res.status} ${res.body}`);
  return res.ws;
}

/** Publishes one event and expects its ack (for playable and ready: recorded in Postgres by then). */
async function publish(ws: WebSocket, event: ProgressEvent) {
  const reply = nextMessage(ws);
  ws.send(JSON.stringify({ type: "publish", event }));
  expect(await reply).toEqual({ type: "ack", seq: event.seq });
}

const playableEvent = (n: number): ProgressEvent => ({
  type: "playable",
  seq: SEQ_EPOCH + n,
  at: Date.now(),
  segmentsPublished: 2,
  segmentsTotal: 8,
});

async function getVideo(id: string, owner: TestUser) {
  const res = await call("GET", `/v1/videos/${id}`, { token: owner.token });
  expect(res.status).toBe(200);
  return Video.parse(res.json);
}

/** Fetches `url` until its body is `expected`; returns how long that took, in ms. */
async function servedWithin(url: string, expected: string, limitMs: number): Promise<number> {
  const started = Date.now();
  let last = "";
  while (Date.now() - started < limitMs) {
    const res = await fetch(url);
    last = await res.text();
    if (res.status === 200 && last === expected) return Date.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} still served ${JSON.stringify(last)} after ${limitMs} ms`);
}

describe("watching a video while it is still processing", () => {
  it("serves nothing before playable, the growing playlists after it, and the final ones once ready", async () => {
    const owner = await user(db, "live");
    const video = await processingVideo(owner, "public");
    const play = `${edge}/v1/play/${video.id}`;

    // Stored but not announced: not playable.
    expectError(await call("GET", `/v1/play/${video.id}/${MASTER_PLAYLIST}`), 404, "not_found");
    expectError(await call("GET", `/v1/play/${video.id}/${VARIANT}`), 404, "not_found");
    expect(await getVideo(video.id, owner)).toMatchObject({ playableAt: null, playback: { hls: null } });

    // The owner's page is subscribed; the transcoder says playable.
    const sub = await upgrade(eventsPath(video.id), {
      protocols: [EVENTS_PROTOCOL, `bearer.${owner.token}`],
    });
    if (!sub.ws) throw new Error(`subscriber upgrade: ${sub.status}`);
    expect(await nextMessage(sub.ws)).toEqual({ type: "snapshot", event: null });
    const transcoder = await openPublisher(video.id);
    const event = playableEvent(1);
    const seen = nextMessage(sub.ws);
    await publish(transcoder, event);
    expect(await seen).toEqual({ type: "event", event });

    const json = await getVideo(video.id, owner);
    expect(json.status).toBe("processing");
    expect(json.playableAt).not.toBeNull();
    expect(json.playback).toEqual({
      hls: `${play}/${MASTER_PLAYLIST}`,
      poster: null,
      dash: null,
      storyboard: null,
    });

    const master = await fetch(json.playback.hls ?? "");
    expect(master.status).toBe(200);
    expect(await master.text()).toBe(MASTER);
    expect(master.headers.get("cache-control")).toBe("public, max-age=1");
    const variant = await fetch(`${play}/${VARIANT}`);
    expect(variant.status).toBe(200);
    expect(await variant.text()).toBe(eventPlaylist(1));
    expect(variant.headers.get("cache-control")).toBe("public, max-age=1");
    for (const file of ["720p/init.mp4", "720p/seg_00001.m4s"]) {
      const res = await fetch(`${play}/${file}`);
      expect(res.status, file).toBe(200);
      expect(new Uint8Array(await res.arrayBuffer())).toEqual(SEGMENT);
      expect(res.headers.get("cache-control"), file).toBe("public, max-age=31536000, immutable");
    }

    // The playlist grows (a second segment published): served within ~2 s, though cached at the edge.
    await putObject(`${outputPrefix(video.id)}720p/seg_00002.m4s`, SEGMENT);
    await putObject(`${outputPrefix(video.id)}${VARIANT}`, eventPlaylist(2));
    expect(await servedWithin(`${play}/${VARIANT}`, eventPlaylist(2), 2500)).toBeLessThan(2500);
    expect((await fetch(`${play}/720p/seg_00002.m4s`)).status).toBe(200);

    // The transcoder finishes: final playlists first, then ready. The final one is served within ~1 s
    // (the live state's TTL) and never replaced by a copy of the growing one, on the normal policy.
    await putObject(`${outputPrefix(video.id)}${VARIANT}`, eventPlaylist(3, true));
    const ready: ProgressEvent = {
      type: "ready",
      seq: SEQ_EPOCH + 2,
      at: Date.now(),
      durationSeconds: 6,
      sourceWidth: 1280,
      sourceHeight: 720,
      renditions: [rendition720p],
    };
    await publish(transcoder, ready);
    expect(await servedWithin(`${play}/${VARIANT}`, eventPlaylist(3, true), 2500)).toBeLessThan(2500);
    const final = await fetch(`${play}/${VARIANT}`);
    expect(final.headers.get("cache-control")).toBe("public, max-age=60");
    expect(await final.text()).toBe(eventPlaylist(3, true));
    const after = await getVideo(video.id, owner);
    expect(after).toMatchObject({ status: "ready", playableAt: json.playableAt });
    expect(after.playback.poster).toBe(`${play}/poster.jpg`);
    transcoder.close();
    sub.ws.close();
  });

  it("needs the owner's playback token for a private video, as a ready one does", async () => {
    const owner = await user(db, "live-private");
    const video = await processingVideo(owner, "private");
    const transcoder = await openPublisher(video.id);
    await publish(transcoder, playableEvent(1));
    transcoder.close();

    const json = await getVideo(video.id, owner);
    const hls = json.playback.hls ?? "";
    expect(hls).toMatch(new RegExp(`/v1/play/${video.id}/t/[^/]+/${MASTER_PLAYLIST}$`));
    const master = await fetch(hls);
    expect(master.status).toBe(200);
    expect(master.headers.get("cache-control")).toBe("private, max-age=1");
    const variant = await fetch(new URL(VARIANT, hls));
    expect(variant.status).toBe(200);
    expect(await variant.text()).toBe(eventPlaylist(1));
    expect(variant.headers.get("cache-control")).toBe("private, max-age=1");
    // Without the token: 404, cached or not; nobody else sees the video at all.
    expectError(await call("GET", `/v1/play/${video.id}/${MASTER_PLAYLIST}`), 404, "not_found");
    expectError(await call("GET", `/v1/play/${video.id}/${VARIANT}`), 404, "not_found");
    const stranger = await user(db, "stranger");
    expectError(await call("GET", `/v1/videos/${video.id}`, { token: stranger.token }), 404);
  });
});
