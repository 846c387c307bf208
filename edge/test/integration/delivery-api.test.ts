import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  DASH_MANIFEST,
  DOWNLOAD_PATH,
  STORYBOARD_FOLDER,
  STORYBOARD_VTT,
  Video,
  VideoDetail,
  VideoList,
} from "@streamlet/shared";
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signedUpClient, waitForTerminal } from "../../../scripts/stack/client.ts";
import { makeClip } from "../../../scripts/stack/clip.ts";
import { videoCaptions, videos } from "../../src/db/schema.ts";
import { call, edge, expectError, openDb, type TestUser, user as userOf, videoRow } from "./helpers.ts";

// What the API says about a ready video's delivery (DASH, storyboard, captions, rendition quality) and the
// MP4 download (GET /v1/videos/:id/download, then the signed /v1/download/… URL), through the real stack:
// ONE video is uploaded and transcoded for the whole file; the tests below run in order on it.
const { db, end } = openDb();
const TITLE = "Mon été: démo 1/2";
const FILE_NAME = "Mon été démo 1 2.mp4";

let dir = "";
let owner: TestUser;
let stranger: TestUser;
let id = "";

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "streamlet-delivery-api-"));
  const clip = await makeClip(path.join(dir, "clip.mp4"), { seconds: 4, width: 640, height: 360 });
  const client = await signedUpClient(edge, "delivery-api");
  const created = await client.createVideo(TITLE, clip);
  await client.upload(created, clip);
  await client.markUploaded(created.video.id);
  const video = await waitForTerminal(client, created.video.id, { timeoutMs: 180_000 });
  expect(video.status, video.failureReason ?? "").toBe("ready");
  id = video.id;
  owner = { id: (await client.api.GET("/v1/me")).data?.user.id ?? "", token: client.accessToken() };
  stranger = await userOf(db, "delivery-api-stranger");
}, 240_000);
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  // The video, its stored files and cached copies.
  if (id) await call("DELETE", `/v1/videos/${id}`, { token: owner.token });
  await end();
});

async function getVideo(token?: string) {
  const res = await call("GET", `/v1/videos/${id}`, { token });
  expect(res.status, res.text).toBe(200);
  return VideoDetail.parse(res.json);
}

async function patch(body: Record<string, unknown>) {
  const res = await call("PATCH", `/v1/videos/${id}`, { token: owner.token, body });
  expect(res.status, res.text).toBe(200);
  return Video.parse(res.json);
}

type Ticket = { url: string; expiresAt: string; bytes: number; fileName: string };

async function ticket(token?: string): Promise<Ticket> {
  const res = await call("GET", `/v1/videos/${id}/download`, { token });
  expect(res.status, res.text).toBe(200);
  return res.json as Ticket;
}

/** Fetches a download URL (absolute, on the edge). */
const fetchDownload = (url: string, init: RequestInit = {}) => fetch(url, init);

/** The error envelope's status and code of a download URL's answer. */
async function refusal(url: string) {
  const res = await fetchDownload(url);
  const body = (await res.json()) as { error: { code: string } };
  return { status: res.status, code: body.error.code };
}

describe("a ready video's delivery fields", () => {
  it("has DASH and storyboard URLs, captions, and downloads on by default", async () => {
    const video = await getVideo();
    const play = `${edge}/v1/play/${id}`;
    // Needs the transcoder's delivery assets (manifest.mpd, storyboard/, download/ and `assets` in ready).
    expect(video.playback.dash).toBe(`${play}/${DASH_MANIFEST}`);
    expect(video.playback.storyboard).toBe(`${play}/${STORYBOARD_FOLDER}/${STORYBOARD_VTT}`);
    expect(video.downloadable).toBe(true);
    // The edge's own fields.
    expect(video.downloadsEnabled).toBe(true);
    expect(video.captions).toEqual([]);
    const [row] = await db.select({ assets: videos.assets }).from(videos).where(eq(videos.id, id));
    expect(row?.assets?.dash).toBe(true);
    expect(row?.assets?.download?.bytes).toBeGreaterThan(0);
  });

  it("lists the video's captions with URLs below its play prefix, in single reads and lists", async () => {
    await db.insert(videoCaptions).values([
      { videoId: id, language: "pt-BR", label: "Português", bytes: 10 },
      { videoId: id, language: "en", label: "English", bytes: 10 },
    ]);
    try {
      const expected = [
        { language: "en", label: "English", url: `${edge}/v1/play/${id}/subtitles/en.vtt` },
        { language: "pt-BR", label: "Português", url: `${edge}/v1/play/${id}/subtitles/pt-BR.vtt` },
      ];
      expect((await getVideo()).captions).toEqual(expected);
      const mine = VideoList.parse((await call("GET", "/v1/me/videos", { token: owner.token })).json);
      expect(mine.videos.find((v) => v.id === id)?.captions).toEqual(expected);
      const listed = VideoList.parse((await call("GET", "/v1/videos?q=d%C3%A9mo&limit=50")).json);
      expect(listed.videos.find((v) => v.id === id)?.captions).toEqual(expected);
    } finally {
      await db.delete(videoCaptions).where(eq(videoCaptions.videoId, id));
    }
  });

  it("shows rendition quality to the owner only", async () => {
    const mine = await getVideo(owner.token);
    expect(mine.renditions.length).toBeGreaterThan(0);
    // Needs the transcoder's quality measurement (renditions[].quality in ready).
    for (const rendition of mine.renditions) {
      expect(rendition.quality).toMatchObject({
        ssim: expect.any(Number),
        psnr: expect.any(Number),
        frames: expect.any(Number),
      });
    }
    const own = VideoList.parse((await call("GET", "/v1/me/videos", { token: owner.token })).json);
    expect(own.videos.find((v) => v.id === id)?.renditions).toEqual(mine.renditions);

    for (const token of [stranger.token, undefined]) {
      const theirs = await getVideo(token);
      expect(theirs.renditions).toHaveLength(mine.renditions.length);
      for (const rendition of theirs.renditions) expect(rendition).not.toHaveProperty("quality");
    }
    const listed = VideoList.parse((await call("GET", "/v1/videos?q=d%C3%A9mo&limit=50")).json);
    const inList = listed.videos.find((v) => v.id === id);
    expect(inList?.renditions.every((r) => !("quality" in r))).toBe(true);
  });
});

describe("downloads", () => {
  let url = "";

  it("hands anyone who may watch a public video a short-lived edge URL", async () => {
    const before = Date.now();
    const anonymous = await ticket();
    expect(anonymous.fileName).toBe(FILE_NAME);
    expect(anonymous.url).toMatch(
      new RegExp(`^${edge}/v1/download/${id}/\\d+\\.v\\.[A-Za-z0-9_-]{43}/${encodeURIComponent(FILE_NAME)}$`),
    );
    const expires = Date.parse(anonymous.expiresAt);
    expect(expires - before).toBeGreaterThan(14 * 60_000);
    expect(expires - before).toBeLessThanOrEqual(15 * 60_000 + 2000);
    const [row] = await db.select({ assets: videos.assets }).from(videos).where(eq(videos.id, id));
    expect(anonymous.bytes).toBe(row?.assets?.download?.bytes);
    expect((await ticket(stranger.token)).fileName).toBe(FILE_NAME);
    url = anonymous.url;
  });

  it("serves the MP4 as an attachment, never cached, with HEAD and Range", async () => {
    const { bytes } = await ticket();
    const res = await fetchDownload(url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("video/mp4");
    expect(res.headers.get("content-disposition")).toBe(
      `attachment; filename="Mon ete demo 1 2.mp4"; filename*=UTF-8''${encodeURIComponent(FILE_NAME)}`,
    );
    expect(res.headers.get("cache-control")).toBe("private, max-age=0");
    expect(res.headers.get("accept-ranges")).toBe("bytes");
    const body = new Uint8Array(await res.arrayBuffer());
    expect(body.byteLength).toBe(bytes);
    expect(new TextDecoder().decode(body.subarray(4, 8))).toBe("ftyp");

    const head = await fetchDownload(url, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(bytes));
    expect((await head.arrayBuffer()).byteLength).toBe(0);

    const ranged = await fetchDownload(url, { headers: { range: "bytes=100-199" } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get("content-range")).toBe(`bytes 100-199/${bytes}`);
    expect(new Uint8Array(await ranged.arrayBuffer())).toEqual(body.subarray(100, 200));
    expect((await fetchDownload(url, { headers: { range: `bytes=${bytes}-` } })).status).toBe(416);
  });

  it("refuses forged, expired or moved tokens with 404", async () => {
    const match = /\/v1\/download\/[^/]+\/(\d+)\.v\.([^/]+)\/(.+)$/.exec(url);
    const [, exp = "", signature = "", name = ""] = match ?? [];
    const flipped = `${signature.slice(0, -2)}${signature.at(-2) === "A" ? "B" : "A"}${signature.at(-1)}`;
    const other = await videoRow(db, owner.id);
    for (const bad of [
      `/v1/download/${id}/${exp}.v.${flipped}/${name}`,
      `/v1/download/${id}/${Number(exp) + 60}.v.${signature}/${name}`,
      `/v1/download/${id}/${exp}.o.${signature}/${name}`,
      `/v1/download/${other.id}/${exp}.v.${signature}/${name}`,
      `/v1/download/${id}/1.v.${signature}/${name}`,
      `/v1/download/not-a-uuid/${exp}.v.${signature}/${name}`,
    ]) {
      expectError(await call("GET", bad), 404, "not_found");
    }
  });

  it("is never served by the play route", async () => {
    expectError(await call("GET", `/v1/play/${id}/${DOWNLOAD_PATH}`), 404);
  });

  it("stops for everyone but the owner when the owner turns downloads off, URLs handed out included", async () => {
    const off = await patch({ downloadsEnabled: false });
    expect(off).toMatchObject({ downloadsEnabled: false, downloadable: false });
    expect(await getVideo()).toMatchObject({ downloadsEnabled: false, downloadable: false });
    try {
      expectError(await call("GET", `/v1/videos/${id}/download`), 403, "downloads_disabled");
      expectError(
        await call("GET", `/v1/videos/${id}/download`, { token: stranger.token }),
        403,
        "downloads_disabled",
      );
      expect(await refusal(url)).toEqual({ status: 403, code: "downloads_disabled" });
      // The owner still may.
      const own = await ticket(owner.token);
      expect(own.url).toMatch(/\/\d+\.o\.[A-Za-z0-9_-]{43}\//);
      expect((await fetchDownload(own.url, { method: "HEAD" })).status).toBe(200);
    } finally {
      expect(await patch({ downloadsEnabled: true })).toMatchObject({ downloadsEnabled: true });
    }
    // On again: the URL, still unexpired, works again.
    expect((await fetchDownload(url, { method: "HEAD" })).status).toBe(200);
  });

  it("of a private video is the owner's alone", async () => {
    const ownUrl = (await ticket(owner.token)).url;
    await patch({ visibility: "private" });
    try {
      expectError(await call("GET", `/v1/videos/${id}/download`), 404, "not_found");
      expectError(
        await call("GET", `/v1/videos/${id}/download`, { token: stranger.token }),
        404,
        "not_found",
      );
      // A URL handed to someone else before stops; the owner's keeps working, and new ones are handed out.
      expect(await refusal(url)).toEqual({ status: 404, code: "not_found" });
      expect((await fetchDownload(ownUrl, { method: "HEAD" })).status).toBe(200);
      const fresh = await ticket(owner.token);
      expect((await fetchDownload(fresh.url, { headers: { range: "bytes=0-9" } })).status).toBe(206);
      expect((await getVideo(owner.token)).downloadable).toBe(true);
    } finally {
      await patch({ visibility: "public" });
    }
  });

  it("answers 409 before the video is ready, 404 without an MP4, 404 for an unknown video", async () => {
    const processing = await videoRow(db, owner.id, { status: "processing" });
    expectError(
      await call("GET", `/v1/videos/${processing.id}/download`, { token: owner.token }),
      409,
      "not_ready",
    );
    // Ready, but transcoded before downloads existed (no assets).
    const older = await videoRow(db, owner.id);
    expect(Video.parse((await call("GET", `/v1/videos/${older.id}`)).json)).toMatchObject({
      downloadable: false,
      downloadsEnabled: true,
      playback: { dash: null, storyboard: null },
    });
    expectError(await call("GET", `/v1/videos/${older.id}/download`), 404, "no_download");
    expectError(await call("GET", `/v1/videos/${crypto.randomUUID()}/download`), 404, "not_found");
    expectError(await call("GET", `/v1/videos/${id}/download`, { token: "not-a-token" }), 401);
    await db.delete(videos).where(and(eq(videos.ownerId, owner.id), eq(videos.title, "test video")));
  });
});
