import {
  AUDIO_FOLDER,
  DOWNLOAD_PATH,
  EVENTS_PROTOCOL,
  eventsPath,
  INIT_SEGMENT,
  MASTER_PLAYLIST,
  outputPrefix,
  POSTER,
  PROGRESS_TOKEN_HEADER,
  type ProgressEvent,
  publisherPath,
  SEQ_EPOCH,
  segmentName,
  sourceKey,
  TRANSCODE_QUEUE,
  VARIANT_PLAYLIST,
} from "@streamlet/shared";
import { Queue } from "bullmq";
import { eq } from "drizzle-orm";
import IORedis from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import type WebSocket from "ws";
import { videos } from "../../src/db/schema.ts";
import { Storage } from "../../src/storage.ts";
import { signDownloadToken } from "../../src/videos/download-token.ts";
import {
  type Answer,
  call,
  config,
  edge,
  nextMessage,
  openDb,
  playbackToken,
  progressToken,
  putObject,
  readyVideo,
  storedKeys,
  type TestUser,
  upgrade,
  user,
  vars,
  videoRow,
} from "./helpers.ts";

// Ids are case-insensitive to Postgres but not to storage keys or Durable Object names, so every route
// that takes an id must treat an upper-case id exactly like its canonical (lower-case) form. One case per
// id-taking route of the OpenAPI document (the first test fails when a route has none); each case runs
// its scenario on a fresh fixture with the lower-case id, then on another with the upper-case id, and the
// two answers must match once the fixtures' own ids and timestamps are named.
const { db, end } = openDb();
const redis = new IORedis(config.redisUrl, { maxRetriesPerRequest: null });
const queue = new Queue(TRANSCODE_QUEUE, { connection: redis });
afterAll(async () => {
  await queue.close();
  redis.disconnect();
  await end();
});

/** How a case writes the id into the path: as stored (lower case) or in upper case. */
type Form = (id: string) => string;
const lower: Form = (id) => id;
const upper: Form = (id) => id.toUpperCase();

/** What a case's scenario produced, and the fixture ids to name in it. */
type Outcome = { answer: unknown; ids: Record<string, string> };

type IdCase = {
  /** "METHOD /path" as in the OpenAPI document. */
  route: string;
  /** Tells apart several cases of one route. */
  variant?: string;
  /** The status the scenario must answer (so two equal refusals never pass). */
  status: number;
  run: (form: Form) => Promise<Outcome>;
};

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
const ISO_TIME = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z/g;
const PLAYBACK_TOKEN = /\/t\/\d+\.[A-Za-z0-9_-]{43}\//g;

/**
 * The answer with the fixture's ids named, timestamps and playback tokens blanked, and any other
 * lower-case UUID (a new comment's id) generic. An id still in upper case stays as it is, so an answer
 * that echoes the id as sent never matches the lower-case run.
 */
function normalize({ answer, ids }: Outcome): unknown {
  let text = JSON.stringify(answer);
  for (const [name, id] of Object.entries(ids)) text = text.replaceAll(id, `<${name}>`);
  text = text.replace(PLAYBACK_TOKEN, "/t/<token>/").replace(ISO_TIME, "<time>").replace(UUID, "<uuid>");
  return JSON.parse(text);
}

const answer = (res: Answer) => ({ status: res.status, body: res.json ?? res.text });

async function people() {
  return { owner: await user(db, "idcase-owner"), fan: await user(db, "idcase-fan") };
}

/** A queued video (its job already taken, as far as the edge knows) of a new owner. */
async function queuedVideo() {
  const { owner } = await people();
  return { owner, video: await videoRow(db, owner.id, { status: "queued" }) };
}

const transcodingEvent: ProgressEvent = {
  type: "transcoding",
  seq: SEQ_EPOCH + 1,
  at: 1,
  percent: 40,
  rungs: [{ name: "720p", height: 720, percent: 40 }],
  fps: 30,
  speed: 1,
  etaSeconds: 10,
};

/** Opens the transcoder's publisher socket for `path` with the progress token of `videoId`. */
async function openPublisher(path: string, videoId: string) {
  return upgrade(path, {
    protocols: [EVENTS_PROTOCOL],
    headers: {
      authorization: `Bearer ${vars.TRANSCODER_SECRET}`,
      [PROGRESS_TOKEN_HEADER]: await progressToken(videoId),
    },
  });
}

/** Publishes one event and returns the edge's answer (an ack once the video's object stored it). */
async function publish(ws: WebSocket, event: ProgressEvent) {
  const reply = nextMessage(ws);
  ws.send(JSON.stringify({ type: "publish", event }));
  return reply;
}

/** Joins a video's subscriber socket as `owner` and returns the upgrade's status and the first message. */
async function subscribe(path: string, owner: TestUser) {
  const res = await upgrade(path, { protocols: [EVENTS_PROTOCOL, `bearer.${owner.token}`] });
  if (!res.ws) return { status: res.status, code: res.code };
  const first = await nextMessage(res.ws);
  res.ws.close();
  return { status: res.status, first };
}

/**
 * Whether the edge closed the socket within a few seconds: its close frame arrived (the socket is no
 * longer open; the closing handshake through wrangler dev can take much longer to finish).
 */
async function closedByEdge(ws: WebSocket, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (ws.readyState === ws.OPEN && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const closed = ws.readyState !== ws.OPEN;
  ws.terminate();
  return closed;
}

/** Every object a transcoded video has in storage, by the shared layout. */
function layoutKeys(id: string): string[] {
  const out = outputPrefix(id);
  const rung = (folder: string) => [
    `${out}${folder}/${VARIANT_PLAYLIST}`,
    `${out}${folder}/${INIT_SEGMENT}`,
    ...[0, 1, 2, 3].map((i) => `${out}${folder}/${segmentName(i)}`),
  ];
  return [
    sourceKey(id),
    `${out}${MASTER_PLAYLIST}`,
    `${out}${POSTER}`,
    ...rung("360p"),
    ...rung("720p"),
    ...rung(AUDIO_FOLDER),
  ];
}

async function commentOn(videoId: string, author: TestUser, parentId?: string) {
  const res = await call("POST", `/v1/videos/${videoId}/comments`, {
    token: author.token,
    body: { body: "a comment", ...(parentId ? { parentId } : {}) },
  });
  expect(res.status, res.text).toBe(201);
  return (res.json as { id: string }).id;
}

/** The path of a presigned URL and its upload id: what a case compares (signatures carry the time). */
const presigned = (url: string) => {
  const u = new URL(url);
  return {
    path: u.pathname,
    partNumber: u.searchParams.get("partNumber"),
    uploadId: u.searchParams.get("uploadId"),
  };
};

/** A ready public video of a new owner with a download MP4 in storage (as the transcoder leaves one). */
async function downloadableVideo() {
  const { owner } = await people();
  const video = await readyVideo(db, owner.id, "public");
  await putObject(`${outputPrefix(video.id)}${DOWNLOAD_PATH}`, "mp4");
  await db
    .update(videos)
    .set({ assets: { storyboard: null, dash: false, download: { rendition: "720p", bytes: 3 } } })
    .where(eq(videos.id, video.id));
  return { owner, video };
}

/** A download URL's signed token, blanked: it signs the (canonical) id, so each run's differs. */
const DOWNLOAD_TOKEN = /\/\d+\.[ov]\.[A-Za-z0-9_-]{43}\//g;

const CAPTIONS = "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nHello\n";

const cases: IdCase[] = [
  {
    route: "GET /v1/videos/{id}/upload",
    status: 200,
    run: async (form) => {
      const { owner } = await people();
      const video = await videoRow(db, owner.id, { status: "awaiting_upload" });
      await db.update(videos).set({ uploadBytes: 1000 }).where(eq(videos.id, video.id));
      const res = await call("GET", `/v1/videos/${form(video.id)}/upload`, { token: owner.token });
      const body = res.json as { ticket: { kind: string; url: string }; uploadedBytes: number } | null;
      return {
        answer: {
          status: res.status,
          kind: body?.ticket.kind,
          url: body && presigned(body.ticket.url),
          bytes: body?.uploadedBytes,
        },
        ids: { video: video.id, owner: owner.id },
      };
    },
  },
  {
    route: "POST /v1/videos/{id}/upload/parts",
    status: 200,
    run: async (form) => {
      const { owner } = await people();
      const video = await videoRow(db, owner.id, { status: "awaiting_upload" });
      const uploadId = await new Storage(config.s3).createMultipartUpload(sourceKey(video.id));
      await db
        .update(videos)
        .set({ uploadBytes: 12 * 1024 * 1024, uploadPartBytes: 5 * 1024 * 1024, uploadId })
        .where(eq(videos.id, video.id));
      const res = await call("POST", `/v1/videos/${form(video.id)}/upload/parts`, {
        token: owner.token,
        body: { partNumbers: [1, 3] },
      });
      const parts = (res.json as { parts?: { size: number; url: string }[] } | null)?.parts ?? [];
      return {
        answer: { status: res.status, parts: parts.map((p) => ({ size: p.size, ...presigned(p.url) })) },
        ids: { video: video.id, owner: owner.id, upload: uploadId },
      };
    },
  },
  {
    route: "POST /v1/videos/{id}/retry",
    status: 202,
    run: async (form) => {
      const { owner } = await people();
      const video = await videoRow(db, owner.id, { status: "failed" });
      // Not a real video: the transcoder fails it again, which is of no interest here.
      await putObject(sourceKey(video.id), "not a video");
      const res = await call("POST", `/v1/videos/${form(video.id)}/retry`, { token: owner.token });
      // The job names the video, its keys and the new run canonically, whatever the case of the path.
      const job = await queue.getJob(video.id);
      const data = job?.data as { videoId: string; input: { key: string }; run?: number } | undefined;
      return {
        answer: { ...answer(res), job: data && [data.videoId, data.input.key, data.run] },
        ids: { video: video.id, owner: owner.id },
      };
    },
  },
  {
    route: "POST /v1/videos/{id}/uploaded",
    status: 202,
    run: async (form) => {
      const { owner } = await people();
      const video = await videoRow(db, owner.id, { status: "awaiting_upload" });
      // Not a real video: the transcoder fails it, which is of no interest here.
      await putObject(sourceKey(video.id), "not a video");
      const res = await call("POST", `/v1/videos/${form(video.id)}/uploaded`, { token: owner.token });
      // The job names the video and its keys canonically, whatever the case of the path.
      const job = await queue.getJob(video.id);
      const data = job?.data as { videoId: string; input: { key: string }; output: { prefix: string } };
      return {
        answer: { ...answer(res), job: data && [data.videoId, data.input.key, data.output.prefix] },
        ids: { video: video.id, owner: owner.id },
      };
    },
  },
  {
    route: "GET /v1/videos/{id}",
    status: 200,
    run: async (form) => {
      const { owner } = await people();
      const video = await readyVideo(db, owner.id, "private");
      const res = await call("GET", `/v1/videos/${form(video.id)}`, { token: owner.token });
      // The signed playback URL it hands out works.
      const hls = (res.json as { playback?: { hls?: string } }).playback?.hls ?? "";
      const played = await call("GET", hls.replace(/^https?:\/\/[^/]+/, ""));
      return {
        answer: { ...answer(res), played: played.status },
        ids: { video: video.id, owner: owner.id },
      };
    },
  },
  {
    route: "PATCH /v1/videos/{id}",
    status: 200,
    run: async (form) => {
      const { owner } = await people();
      const video = await readyVideo(db, owner.id, "public");
      const res = await call("PATCH", `/v1/videos/${form(video.id)}`, {
        token: owner.token,
        body: { title: "renamed", visibility: "unlisted" },
      });
      return { answer: answer(res), ids: { video: video.id, owner: owner.id } };
    },
  },
  {
    route: "DELETE /v1/videos/{id}",
    status: 204,
    run: async (form) => {
      const { owner } = await people();
      const video = await videoRow(db, owner.id);
      const keys = layoutKeys(video.id);
      for (const key of keys) await putObject(key, "x");
      expect(await storedKeys(video.id)).toHaveLength(keys.length);
      // The owner watching: the video's one progress object closes the socket when it is deleted.
      const watching = await upgrade(eventsPath(video.id), {
        protocols: [EVENTS_PROTOCOL, `bearer.${owner.token}`],
      });
      const res = await call("DELETE", `/v1/videos/${form(video.id)}`, { token: owner.token });
      const closed = watching.ws ? await closedByEdge(watching.ws) : null;
      const [row] = await db.select().from(videos).where(eq(videos.id, video.id));
      return {
        // Every stored object is gone (listed, not assumed), and so is the row.
        answer: {
          ...answer(res),
          stored: await storedKeys(video.id),
          row: row ?? null,
          closed,
        },
        ids: { video: video.id, owner: owner.id },
      };
    },
  },
  {
    route: "GET /v1/videos/{id}/download",
    status: 200,
    run: async (form) => {
      const { owner, video } = await downloadableVideo();
      const res = await call("GET", `/v1/videos/${form(video.id)}/download`, { token: owner.token });
      // The URL it hands out works.
      const url = (res.json as { url?: string }).url ?? "";
      const fetched = await call("GET", url.replace(/^https?:\/\/[^/]+/, ""));
      return {
        answer: {
          ...answer(res),
          body: JSON.parse(JSON.stringify(res.json).replace(DOWNLOAD_TOKEN, "/<token>/")),
          fetched: [fetched.status, fetched.text],
        },
        ids: { video: video.id, owner: owner.id },
      };
    },
  },
  {
    route: "GET /v1/download/{id}/{token}/{fileName}",
    status: 200,
    run: async (form) => {
      const { owner, video } = await downloadableVideo();
      const token = await signDownloadToken(video.id, "viewer", config.jwtSecret);
      const res = await call("GET", `/v1/download/${form(video.id)}/${token}/video.mp4`);
      return {
        answer: { ...answer(res), type: res.headers.get("content-type") },
        ids: { video: video.id, owner: owner.id },
      };
    },
  },
  {
    route: "GET /v1/videos/{id}/events",
    status: 101,
    run: async (form) => {
      const { owner, video } = await queuedVideo();
      const publisher = await openPublisher(publisherPath(video.id), video.id);
      expect(publisher.status, publisher.body).toBe(101);
      await publish(publisher.ws as WebSocket, transcodingEvent);
      // The subscriber joins the same object the transcoder publishes to: the snapshot is its event.
      const joined = await subscribe(eventsPath(form(video.id)), owner);
      publisher.ws?.close();
      return { answer: joined, ids: { video: video.id, owner: owner.id } };
    },
  },
  {
    route: "GET /v1/internal/videos/{id}/progress",
    status: 101,
    run: async (form) => {
      const { owner, video } = await queuedVideo();
      const publisher = await openPublisher(publisherPath(form(video.id)), video.id);
      const ack = publisher.ws ? await publish(publisher.ws, transcodingEvent) : null;
      publisher.ws?.close();
      // What the owner sees: the event reached the video's one object.
      const joined = await subscribe(eventsPath(video.id), owner);
      return {
        answer: { status: publisher.status, code: publisher.code, ack, joined },
        ids: { video: video.id, owner: owner.id },
      };
    },
  },
  {
    route: "PUT /v1/videos/{id}/captions/{language}",
    status: 201,
    run: async (form) => {
      const { owner } = await people();
      const video = await readyVideo(db, owner.id, "public");
      const res = await call("PUT", `/v1/videos/${form(video.id)}/captions/en`, {
        token: owner.token,
        raw: CAPTIONS,
        headers: { "content-type": "text/vtt" },
      });
      const listed = await call("GET", `/v1/videos/${video.id}/captions`);
      return { answer: { ...answer(res), listed: listed.json }, ids: { video: video.id, owner: owner.id } };
    },
  },
  {
    route: "GET /v1/videos/{id}/captions",
    status: 200,
    run: async (form) => {
      const { owner } = await people();
      const video = await readyVideo(db, owner.id, "public");
      const put = await call("PUT", `/v1/videos/${video.id}/captions/de`, {
        token: owner.token,
        raw: CAPTIONS,
        headers: { "content-type": "text/vtt" },
      });
      expect(put.status).toBe(201);
      const res = await call("GET", `/v1/videos/${form(video.id)}/captions`);
      return { answer: answer(res), ids: { video: video.id, owner: owner.id } };
    },
  },
  {
    route: "DELETE /v1/videos/{id}/captions/{language}",
    status: 204,
    run: async (form) => {
      const { owner } = await people();
      const video = await readyVideo(db, owner.id, "public");
      const put = await call("PUT", `/v1/videos/${video.id}/captions/fr`, {
        token: owner.token,
        raw: CAPTIONS,
        headers: { "content-type": "text/vtt" },
      });
      expect(put.status).toBe(201);
      const res = await call("DELETE", `/v1/videos/${form(video.id)}/captions/fr`, { token: owner.token });
      const listed = await call("GET", `/v1/videos/${video.id}/captions`);
      return { answer: { ...answer(res), listed: listed.json }, ids: { video: video.id, owner: owner.id } };
    },
  },
  {
    route: "PUT /v1/videos/{id}/reaction",
    status: 200,
    run: async (form) => {
      const { owner, fan } = await people();
      const video = await readyVideo(db, owner.id, "public");
      const res = await call("PUT", `/v1/videos/${form(video.id)}/reaction`, {
        token: fan.token,
        body: { value: "like" },
      });
      const seen = await call("GET", `/v1/videos/${video.id}`);
      return {
        answer: { ...answer(res), stats: (seen.json as { stats?: unknown }).stats },
        ids: { video: video.id, owner: owner.id, fan: fan.id },
      };
    },
  },
  {
    route: "DELETE /v1/videos/{id}/reaction",
    status: 200,
    run: async (form) => {
      const { owner, fan } = await people();
      const video = await readyVideo(db, owner.id, "public");
      const liked = await call("PUT", `/v1/videos/${video.id}/reaction`, {
        token: fan.token,
        body: { value: "dislike" },
      });
      expect(liked.status).toBe(200);
      const res = await call("DELETE", `/v1/videos/${form(video.id)}/reaction`, { token: fan.token });
      return { answer: answer(res), ids: { video: video.id, owner: owner.id, fan: fan.id } };
    },
  },
  {
    route: "POST /v1/videos/{id}/views",
    status: 202,
    run: async (form) => {
      const { owner, fan } = await people();
      const video = await readyVideo(db, owner.id, "public");
      const res = await call("POST", `/v1/videos/${form(video.id)}/views`, { token: fan.token });
      // The same viewer again through the canonical id: the same counter object, so not counted twice.
      const again = await call("POST", `/v1/videos/${video.id}/views`, { token: fan.token });
      return {
        answer: { ...answer(res), again: answer(again) },
        ids: { video: video.id, owner: owner.id, fan: fan.id },
      };
    },
  },
  {
    route: "POST /v1/videos/{id}/comments",
    status: 201,
    run: async (form) => {
      const { owner, fan } = await people();
      const video = await readyVideo(db, owner.id, "public");
      const parent = await commentOn(video.id, owner);
      const res = await call("POST", `/v1/videos/${form(video.id)}/comments`, {
        token: fan.token,
        body: { body: "a reply", parentId: form(parent) },
      });
      return {
        answer: answer(res),
        ids: { video: video.id, owner: owner.id, fan: fan.id, parent },
      };
    },
  },
  {
    route: "GET /v1/videos/{id}/comments",
    status: 200,
    run: async (form) => {
      const { owner, fan } = await people();
      const video = await readyVideo(db, owner.id, "public");
      const comment = await commentOn(video.id, fan);
      const res = await call("GET", `/v1/videos/${form(video.id)}/comments`);
      return { answer: answer(res), ids: { video: video.id, owner: owner.id, fan: fan.id, comment } };
    },
  },
  {
    route: "GET /v1/comments/{id}/replies",
    status: 200,
    run: async (form) => {
      const { owner, fan } = await people();
      const video = await readyVideo(db, owner.id, "public");
      const comment = await commentOn(video.id, owner);
      const reply = await commentOn(video.id, fan, comment);
      const res = await call("GET", `/v1/comments/${form(comment)}/replies`);
      return {
        answer: answer(res),
        ids: { video: video.id, owner: owner.id, fan: fan.id, comment, reply },
      };
    },
  },
  {
    route: "DELETE /v1/comments/{id}",
    status: 204,
    run: async (form) => {
      const { owner, fan } = await people();
      const video = await readyVideo(db, owner.id, "public");
      const comment = await commentOn(video.id, fan);
      const res = await call("DELETE", `/v1/comments/${form(comment)}`, { token: fan.token });
      const gone = await call("GET", `/v1/comments/${comment}/replies`);
      return {
        answer: { ...answer(res), afterwards: gone.status },
        ids: { video: video.id, owner: owner.id, fan: fan.id, comment },
      };
    },
  },
  {
    route: "GET /v1/play/{id}/{asset}",
    status: 200,
    run: async (form) => {
      const { owner } = await people();
      const video = await readyVideo(db, owner.id, "public");
      const res = await call("GET", `/v1/play/${form(video.id)}/${MASTER_PLAYLIST}`);
      return {
        answer: { ...answer(res), type: res.headers.get("content-type") },
        ids: { video: video.id, owner: owner.id },
      };
    },
  },
  {
    route: "GET /v1/play/{id}/{asset}",
    variant: "signed /t/<token>/ form of a private video",
    status: 200,
    run: async (form) => {
      const { owner } = await people();
      const video = await readyVideo(db, owner.id, "private");
      const token = await playbackToken(video.id);
      const res = await call("GET", `/v1/play/${form(video.id)}/t/${token}/${MASTER_PLAYLIST}`);
      return {
        answer: { ...answer(res), type: res.headers.get("content-type") },
        ids: { video: video.id, owner: owner.id },
      };
    },
  },
];

describe("ids in upper case", () => {
  it("has a case for every route of the OpenAPI document that takes an id", async () => {
    const res = await fetch(`${edge}/openapi.json`);
    const doc = (await res.json()) as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(doc.paths)
      .filter(([path]) => path.includes("{id}"))
      .flatMap(([path, operations]) => Object.keys(operations).map((m) => `${m.toUpperCase()} ${path}`));
    expect(documented.length).toBeGreaterThan(10);
    expect([...new Set(cases.map((c) => c.route))].sort()).toEqual(documented.sort());
  });

  it.each(cases.map((c) => [c.variant ? `${c.route} (${c.variant})` : c.route, c] as const))(
    "%s answers an upper-case id as its canonical form",
    async (_, idCase) => {
      const asStored = normalize(await idCase.run(lower));
      const asUpper = normalize(await idCase.run(upper));
      expect((asStored as { status: number }).status, JSON.stringify(asStored)).toBe(idCase.status);
      expect(asUpper).toEqual(asStored);
    },
  );
});
