import { MASTER_PLAYLIST, Video } from "@streamlet/shared";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { videos } from "../../src/db/schema.ts";
import {
  downloading,
  edgeFetch,
  newUser,
  newVideo,
  playable,
  publisher,
  ready,
  seq,
  subscribe,
  transcoding,
  videoRow,
  waitForStatus,
  withDb,
} from "./helpers.ts";

/** GET /v1/videos/:id as `token`'s user, parsed. */
async function getVideo(id: string, token: string): Promise<Video> {
  const res = await edgeFetch(`/v1/videos/${id}`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  return Video.parse(await res.json());
}

describe("a video watchable while it is still processing", () => {
  it("records playable in Postgres before the ack, broadcasts it, and links the HLS while processing", async () => {
    const owner = await newUser();
    const video = await newVideo(owner.id, { visibility: "private" });
    const watcher = await subscribe(video.id, owner.token);
    await watcher.next(); // the queued snapshot
    const transcoder = await publisher(video.id);
    transcoder.publish(downloading(1));
    await transcoder.next();
    await watcher.next();
    // Chunks landing: per-chunk progress reaches subscribers as it was sent.
    const chunk = { ...transcoding(2, 20), chunksDone: 1, chunksTotal: 5 };
    transcoder.publish(chunk);
    expect(await transcoder.next()).toEqual({ type: "ack", seq: chunk.seq });
    expect(await watcher.next()).toEqual({ type: "event", event: chunk });

    // Processing (the object's background write), not playable yet: no playback URLs.
    await waitForStatus(video.id, "processing");
    const before = await getVideo(video.id, owner.token);
    expect(before).toMatchObject({ status: "processing", playableAt: null, playback: { hls: null } });

    const event = playable(3);
    transcoder.publish(event);
    expect(await transcoder.next()).toEqual({ type: "ack", seq: event.seq });
    // Written before the ack: no polling needed.
    const row = await videoRow(video.id);
    expect(row.status).toBe("processing");
    expect(row.playableAt).not.toBeNull();
    expect(await watcher.next()).toEqual({ type: "event", event });

    const now = await getVideo(video.id, owner.token);
    expect(now.status).toBe("processing");
    expect(now.playableAt).toBe(row.playableAt?.toISOString());
    // A private video: the signed form, as for a ready one; the poster only comes with ready.
    expect(now.playback.hls).toMatch(
      new RegExp(`/v1/play/${video.id}/t/\\d+\\.[A-Za-z0-9_-]{43}/${MASTER_PLAYLIST.replace(".", "\\.")}$`),
    );
    expect(now.playback.poster).toBeNull();

    // A resend is acknowledged without a second write; a retried job's playable keeps the first time.
    transcoder.publish(event);
    expect(await transcoder.next()).toEqual({ type: "ack", seq: event.seq });
    const retry = playable(1, 2);
    transcoder.publish(retry);
    expect(await transcoder.next()).toEqual({ type: "ack", seq: retry.seq });
    expect(await watcher.next()).toEqual({ type: "event", event: retry });
    expect((await videoRow(video.id)).playableAt?.getTime()).toBe(row.playableAt?.getTime());

    // Ready keeps the time it became playable.
    const outcome = { ...ready(2), seq: seq(2, 2) };
    transcoder.publish(outcome);
    expect(await transcoder.next()).toEqual({ type: "ack", seq: outcome.seq });
    const done = await videoRow(video.id);
    expect(done.status).toBe("ready");
    expect(done.playableAt?.getTime()).toBe(row.playableAt?.getTime());
    const final = await getVideo(video.id, owner.token);
    expect(final.playback.poster).not.toBeNull();
    for (const client of [watcher, transcoder]) client.close();
  });

  it("moves a still-queued video to processing with it", async () => {
    const owner = await newUser();
    const video = await newVideo(owner.id);
    const transcoder = await publisher(video.id);
    transcoder.publish(playable(1));
    expect(await transcoder.next()).toEqual({ type: "ack", seq: seq(1) });
    const row = await videoRow(video.id);
    expect(row.status).toBe("processing");
    expect(row.playableAt).not.toBeNull();
    transcoder.close();
  });

  it("sets playable_at when a video goes straight to ready", async () => {
    const owner = await newUser();
    const video = await newVideo(owner.id);
    const transcoder = await publisher(video.id);
    transcoder.publish(ready(1));
    expect(await transcoder.next()).toEqual({ type: "ack", seq: seq(1) });
    const row = await videoRow(video.id);
    expect(row.status).toBe("ready");
    expect(row.playableAt).not.toBeNull();
    expect(row.playableAt?.getTime()).toBe(row.readyAt?.getTime());
    const json = await getVideo(video.id, owner.token);
    expect(json.playableAt).toBe(row.readyAt?.toISOString());
  });

  it("leaves a video that already failed alone: acknowledged, not recorded, not broadcast", async () => {
    const owner = await newUser();
    const video = await newVideo(owner.id, { status: "failed", failureReason: "cancelled by an operator" });
    const watcher = await subscribe(video.id, owner.token);
    await watcher.next();
    const transcoder = await publisher(video.id);
    transcoder.publish(playable(1));
    expect(await transcoder.next()).toEqual({ type: "ack", seq: seq(1) });
    await watcher.nothingFor();
    const row = await videoRow(video.id);
    expect(row).toMatchObject({ status: "failed", playableAt: null });
    for (const client of [watcher, transcoder]) client.close();
  });

  it("changes nothing for a deleted video: the publisher is told video_deleted and closed with 4410", async () => {
    const owner = await newUser();
    const video = await newVideo(owner.id);
    const watcher = await subscribe(video.id, owner.token);
    await watcher.next();
    const transcoder = await publisher(video.id);
    transcoder.publish(downloading(1));
    expect(await transcoder.next()).toEqual({ type: "ack", seq: seq(1) });
    await watcher.next();
    await waitForStatus(video.id, "processing");
    // The row goes without cancel() (a DELETE that failed half way, say).
    await withDb((db) => db.delete(videos).where(eq(videos.id, video.id)));
    transcoder.publish(playable(2));
    expect(await transcoder.next()).toMatchObject({ type: "error", code: "video_deleted" });
    expect(await transcoder.closed).toEqual({ code: 4410, reason: "video deleted" });
    await watcher.nothingFor();
    const [row] = await withDb((db) => db.select().from(videos).where(eq(videos.id, video.id)));
    expect(row).toBeUndefined();
    watcher.close();
    // And the play route has nothing to serve.
    expect((await edgeFetch(`/v1/play/${video.id}/${MASTER_PLAYLIST}`)).status).toBe(404);
  });
});
