import { Caption, DASH_MANIFEST, MASTER_PLAYLIST, outputPrefix, type Visibility } from "@streamlet/shared";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type VideoRow, videos } from "../../src/db/schema.ts";
import {
  type Answer,
  call,
  edge,
  expectError,
  listKeys,
  openDb,
  playbackToken,
  putObject,
  type TestUser,
  user,
  videoRow,
} from "./helpers.ts";

// Captions through the real stack (wrangler dev with its edge cache, Postgres, s3rver): the owner uploads
// WebVTT or SRT per language; the served master playlist, DASH manifest and generated subtitle playlists
// list the tracks at once. The videos are rows plus stored playlists (no transcoding: this file is cheap).
const { db, end } = openDb();
afterAll(() => end());

const MASTER = [
  "#EXTM3U",
  "#EXT-X-VERSION:7",
  '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="Default",LANGUAGE="und",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="audio/index.m3u8"',
  '#EXT-X-STREAM-INF:BANDWIDTH=2000000,CODECS="avc1.640028,mp4a.40.2",RESOLUTION=1280x720,AUDIO="audio"',
  "720p/index.m3u8",
  '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=90000,CODECS="avc1.640028",RESOLUTION=1280x720,URI="720p/iframes.m3u8"',
  "",
].join("\n");
const MPD =
  '<?xml version="1.0"?>\n<MPD><Period id="0"><AdaptationSet contentType="video"/></Period></MPD>\n';
const VTT = "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nHello\n";
const SRT = "\uFEFF1\r\n00:00:01,000 --> 00:00:03,500\r\n<i>Hi</i> <font color=red>there</font>\r\n";

/** A ready video of `owner` 12.5 s long, with a master playlist and a DASH manifest in storage. */
async function video(owner: TestUser, visibility: Visibility): Promise<VideoRow> {
  const row = await videoRow(db, owner.id, { visibility, title: "captions" });
  await db.update(videos).set({ durationSeconds: 12.5 }).where(eq(videos.id, row.id));
  await putObject(`${outputPrefix(row.id)}${MASTER_PLAYLIST}`, MASTER);
  await putObject(`${outputPrefix(row.id)}${DASH_MANIFEST}`, MPD);
  return row;
}

/** PUT a caption file as the owner (or anyone) would: the file as the body. */
async function putCaption(
  id: string,
  language: string,
  body: string | Uint8Array<ArrayBuffer>,
  opts: { token?: string; type?: string; label?: string } = {},
): Promise<Answer> {
  const query = opts.label === undefined ? "" : `?label=${encodeURIComponent(opts.label)}`;
  const headers: Record<string, string> = { "content-type": opts.type ?? "text/vtt" };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const res = await fetch(`${edge}/v1/videos/${id}/captions/${language}${query}`, {
    method: "PUT",
    headers,
    body,
  });
  const text = await res.text();
  const json = res.headers.get("content-type")?.startsWith("application/json") ? JSON.parse(text) : null;
  return { status: res.status, headers: res.headers, text, json };
}

const play = (id: string, asset: string, token?: string) =>
  fetch(`${edge}/v1/play/${id}${token ? `/t/${token}` : ""}/${asset}`);

describe("captions of a public video", () => {
  let owner: TestUser;
  let other: TestUser;
  let row: VideoRow;
  beforeAll(async () => {
    owner = await user(db, "captions");
    other = await user(db, "captions-other");
    row = await video(owner, "public");
  });

  it("uploads WebVTT (201) and replaces it with SRT (200); the master playlist lists it at once", async () => {
    // Cached first without captions: the upload must not be hidden behind this copy.
    const before = await play(row.id, MASTER_PLAYLIST);
    expect(await before.text()).toBe(MASTER);

    const created = await putCaption(row.id, "EN", VTT, { token: owner.token });
    expect(created.status, created.text).toBe(201);
    expect(Caption.parse(created.json)).toEqual({
      language: "en",
      label: "English",
      url: `${edge}/v1/play/${row.id}/subtitles/en.vtt`,
    });
    const replaced = await putCaption(row.id, "en", SRT, {
      token: owner.token,
      type: "application/x-subrip",
      label: "English (CC)",
    });
    expect(replaced.status, replaced.text).toBe(200);
    expect(Caption.parse(replaced.json).label).toBe("English (CC)");
    expect((await putCaption(row.id, "pt-br", VTT, { token: owner.token, type: "text/plain" })).status).toBe(
      201,
    );

    const listed = await call("GET", `/v1/videos/${row.id}/captions`);
    expect(listed.status).toBe(200);
    expect((listed.json as { captions: Caption[] }).captions.map((c) => [c.language, c.label])).toEqual([
      ["en", "English (CC)"],
      ["pt-BR", "Brazilian Portuguese"],
    ]);

    const master = await play(row.id, MASTER_PLAYLIST);
    expect(master.status).toBe(200);
    expect(master.headers.get("content-type")).toBe("application/vnd.apple.mpegurl");
    const etag = master.headers.get("etag");
    const lines = (await master.text()).split("\n");
    expect(lines[3]).toBe(
      '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="English (CC)",LANGUAGE="en",DEFAULT=NO,AUTOSELECT=YES,FORCED=NO,URI="subtitles/en.m3u8"',
    );
    expect(lines[4]).toMatch(/LANGUAGE="pt-BR",.*URI="subtitles\/pt-BR\.m3u8"$/);
    expect(lines[5]).toMatch(/,AUDIO="audio",SUBTITLES="subs"$/);
    expect(lines[7]).not.toContain("SUBTITLES");
    // The rewritten body has an ETag of its own, honoured like any other (from the cache now).
    expect(etag).toMatch(/^"[0-9a-f]{32}"$/);
    const again = await fetch(`${edge}/v1/play/${row.id}/${MASTER_PLAYLIST}`, {
      headers: { "if-none-match": etag ?? "" },
    });
    expect(again.status).toBe(304);

    const playlist = await play(row.id, "subtitles/en.m3u8");
    expect(playlist.status).toBe(200);
    expect(playlist.headers.get("content-type")).toBe("application/vnd.apple.mpegurl");
    expect(await playlist.text()).toContain("#EXT-X-TARGETDURATION:13\n#EXT-X-PLAYLIST-TYPE:VOD\n");
    const vtt = await play(row.id, "subtitles/en.vtt");
    expect(vtt.status).toBe(200);
    expect(vtt.headers.get("content-type")).toBe("text/vtt; charset=utf-8");
    expect(await vtt.text()).toBe("WEBVTT\n\n1\n00:00:01.000 --> 00:00:03.500\n<i>Hi</i> there\n");
    const ranged = await fetch(`${edge}/v1/play/${row.id}/subtitles/en.vtt`, {
      headers: { range: "bytes=0-5" },
    });
    expect(ranged.status).toBe(206);
    expect(await ranged.text()).toBe("WEBVTT");

    const mpd = await (await play(row.id, DASH_MANIFEST)).text();
    expect(mpd).toContain(
      '<AdaptationSet contentType="text" mimeType="text/vtt" lang="en"><Role schemeIdUri="urn:mpeg:dash:role:2011" value="subtitle"/><Label>English (CC)</Label><Representation id="sub-en" bandwidth="256"><BaseURL>subtitles/en.vtt</BaseURL></Representation></AdaptationSet>',
    );
    expect(mpd.indexOf('lang="pt-BR"')).toBeLessThan(mpd.indexOf("</Period>"));
    expect((await play(row.id, "subtitles/fr.m3u8")).status).toBe(404);
  });

  it("deletes a track (204, then 404): gone from the master playlist and delivery", async () => {
    expect((await putCaption(row.id, "de", VTT, { token: owner.token })).status).toBe(201);
    expect(await (await play(row.id, MASTER_PLAYLIST)).text()).toContain('LANGUAGE="de"');
    const deleted = await call("DELETE", `/v1/videos/${row.id}/captions/DE`, { token: owner.token });
    expect(deleted.status).toBe(204);
    expectError(
      await call("DELETE", `/v1/videos/${row.id}/captions/de`, { token: owner.token }),
      404,
      "not_found",
    );
    expect(await (await play(row.id, MASTER_PLAYLIST)).text()).not.toContain('LANGUAGE="de"');
    expect((await play(row.id, "subtitles/de.vtt")).status).toBe(404);
    expect((await play(row.id, "subtitles/de.m3u8")).status).toBe(404);
    expect(await listKeys(`${outputPrefix(row.id)}subtitles/de`)).toEqual([]);
  });

  it("is the owner's alone: 404 for others, 401 anonymous", async () => {
    expectError(await putCaption(row.id, "es", VTT, { token: other.token }), 404, "not_found");
    expectError(await call("DELETE", `/v1/videos/${row.id}/captions/en`, { token: other.token }), 404);
    expectError(await putCaption(row.id, "es", VTT), 401, "unauthorized");
    expectError(await call("DELETE", `/v1/videos/${row.id}/captions/en`), 401, "unauthorized");
    expect((await play(row.id, "subtitles/en.vtt")).status).toBe(200);
  });

  it("refuses files too large, garbage, bad languages, labels and content types", async () => {
    const big = `WEBVTT\n\n${"00:00:01.000 --> 00:00:02.000\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n\n".repeat(8000)}`;
    expectError(await putCaption(row.id, "es", big, { token: owner.token }), 413, "payload_too_large");
    const garbage = await putCaption(row.id, "es", "<html>nope</html>", { token: owner.token });
    expectError(garbage, 400, "invalid_captions");
    expect((garbage.json as { error: { message: string } }).error.message).toMatch(/^line 1: /);
    const backwards = await putCaption(row.id, "es", "WEBVTT\n\n00:05.000 --> 00:04.000\nx\n", {
      token: owner.token,
    });
    expectError(backwards, 400, "invalid_captions");
    expect((backwards.json as { error: { message: string } }).error.message).toMatch(/^line 3: /);
    const binary = new Uint8Array([0x57, 0x45, 0x42, 0x56, 0x54, 0x54, 0, 1, 2]);
    expectError(await putCaption(row.id, "es", binary, { token: owner.token }), 400, "invalid_captions");
    expectError(await putCaption(row.id, "español", VTT, { token: owner.token }), 400, "invalid_request");
    expectError(
      await putCaption(row.id, "es", VTT, { token: owner.token, label: 'a"b' }),
      400,
      "invalid_request",
    );
    expectError(
      await putCaption(row.id, "es", VTT, { token: owner.token, type: "application/json" }),
      415,
      "unsupported_media_type",
    );
    const listed = await call("GET", `/v1/videos/${row.id}/captions`);
    expect((listed.json as { captions: Caption[] }).captions.map((c) => c.language)).toEqual(["en", "pt-BR"]);
  });
});

describe("captions of a private video", () => {
  it("are listed for the owner alone, and served only below the signed prefix", async () => {
    const owner = await user(db, "captions-private");
    const row = await video(owner, "private");
    const created = await putCaption(row.id, "en", VTT, { token: owner.token });
    expect(created.status, created.text).toBe(201);
    expect(Caption.parse(created.json).url).toMatch(
      new RegExp(`/v1/play/${row.id}/t/[^/]+/subtitles/en\\.vtt$`),
    );
    expectError(await call("GET", `/v1/videos/${row.id}/captions`), 404, "not_found");
    const listed = await call("GET", `/v1/videos/${row.id}/captions`, { token: owner.token });
    expect((listed.json as { captions: Caption[] }).captions).toHaveLength(1);

    expect((await play(row.id, "subtitles/en.m3u8")).status).toBe(404);
    expect((await play(row.id, "subtitles/en.vtt")).status).toBe(404);
    const token = await playbackToken(row.id);
    const playlist = await play(row.id, "subtitles/en.m3u8", token);
    expect(playlist.status).toBe(200);
    expect(playlist.headers.get("cache-control")).toMatch(/^private/);
    const vtt = await play(row.id, "subtitles/en.vtt", token);
    expect(vtt.status).toBe(200);
    expect(await vtt.text()).toBe(VTT);
    expect(await (await play(row.id, MASTER_PLAYLIST, token)).text()).toContain('SUBTITLES="subs"');
  });
});
