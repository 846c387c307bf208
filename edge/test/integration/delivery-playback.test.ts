import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { signedUpClient, waitForTerminal } from "../../../scripts/stack/client.ts";
import { makeClip } from "../../../scripts/stack/clip.ts";
import { ROOT } from "../../../scripts/stack/services.ts";

/**
 * What a ready video delivers besides the HLS ladder, played by real players in Chromium (hls.js's
 * I-frame player and subtitles, dash.js over the MPD), decoded by ffmpeg through the edge, and read by
 * a maintained playlist parser (hls-parser) against Apple's authoring rules. One video for the file.
 */

const edge = inject("edgeUrl");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const run = promisify(execFile);
const withChromium = existsSync(CHROMIUM);

// Loaded from node_modules, so the page is on its own origin (CORS is part of what is checked).
const PAGE = `<!doctype html><meta charset="utf-8"><title>players</title>
<video id="v" muted playsinline></video>
<script src="/hls.min.js"></script>
<script src="/dash.all.min.js"></script>
<script>window.errors = [];</script>`;

const VTT = `WEBVTT

00:00:00.000 --> 00:00:04.000
Hello from the captions

00:00:04.000 --> 00:00:11.000
Still talking
`;

let server: http.Server;
let pageOrigin = "";
let browser: Browser | undefined;
let dir = "";
let client: Awaited<ReturnType<typeof signedUpClient>>;
let videoId = "";
type Ready = Awaited<ReturnType<typeof waitForTerminal>>;
let video: Ready;

const text = async (url: string) => {
  const res = await fetch(url);
  expect(res.status, url).toBe(200);
  return res.text();
};

async function newPage(): Promise<Page> {
  browser ??= await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
      "--autoplay-policy=no-user-gesture-required",
    ],
  });
  const page = await browser.newPage();
  await page.goto(pageOrigin);
  return page;
}

beforeAll(async () => {
  const files: Record<string, Buffer> = {
    "/hls.min.js": readFileSync(path.join(ROOT, "node_modules/hls.js/dist/hls.min.js")),
    "/dash.all.min.js": readFileSync(path.join(ROOT, "node_modules/dashjs/dist/modern/umd/dash.all.min.js")),
  };
  server = http.createServer((req, res) => {
    const file = files[req.url ?? ""];
    if (file) res.writeHead(200, { "content-type": "text/javascript" }).end(file);
    else res.writeHead(200, { "content-type": "text/html" }).end(PAGE);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  pageOrigin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = mkdtempSync(path.join(os.tmpdir(), "streamlet-delivery-"));

  client = await signedUpClient(edge, "delivery");
  // 11 s: segments of 1, 2, 4 s and the rest; two rungs (the source's 540p, 480p: never upscaled), audio.
  const clip = await makeClip(path.join(dir, "clip.mp4"), { seconds: 11, width: 960, height: 540 });
  const created = await client.createVideo("delivery", clip);
  videoId = created.video.id;
  await client.upload(created, clip);
  await client.markUploaded(videoId);
  const done = await waitForTerminal(client, videoId, { timeoutMs: 180_000 });
  expect(done.failureReason).toBeNull();
  const captioned = await fetch(`${edge}/v1/videos/${videoId}/captions/en`, {
    method: "PUT",
    headers: { authorization: `Bearer ${client.accessToken()}`, "content-type": "text/vtt" },
    body: VTT,
  });
  expect([200, 201]).toContain(captioned.status);
  video = await client.getVideo(videoId);
}, 240_000);

afterAll(async () => {
  await browser?.close();
  server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("delivery of a ready video", () => {
  it("names every asset in the video JSON", () => {
    expect(video.status).toBe("ready");
    expect(video.playback.dash).toMatch(/\/manifest\.mpd$/);
    expect(video.playback.storyboard).toMatch(/\/storyboard\/storyboard\.vtt$/);
    expect(video.captions).toEqual([
      expect.objectContaining({ language: "en", url: expect.stringMatching(/\/subtitles\/en\.vtt$/) }),
    ]);
    expect(video.downloadable).toBe(true);
    // The owner sees each rung's quality against the source.
    for (const r of video.renditions) {
      expect(r.quality?.ssim, r.name).toBeGreaterThan(0.8);
      expect(r.quality?.psnr, r.name).toBeGreaterThan(25);
    }
  });

  it.skipIf(!withChromium)("hls.js plays the ladder from the edge on another origin (CORS)", async () => {
    const page = await newPage();
    await page.evaluate((src) => {
      const w = window as unknown as { Hls: typeof import("hls.js").default; state: Record<string, unknown> };
      const video = document.getElementById("v") as HTMLVideoElement;
      const hls = new w.Hls({ startLevel: -1 });
      const errors: string[] = [];
      w.state = { errors, levels: [] };
      hls.on(w.Hls.Events.ERROR, (_e, d) => errors.push(`${d.type}:${d.details}${d.fatal ? ":fatal" : ""}`));
      hls.on(w.Hls.Events.MANIFEST_PARSED, (_e, data) => {
        w.state.levels = data.levels.map((l) => l.height);
        void video.play();
      });
      hls.loadSource(src);
      hls.attachMedia(video);
    }, video.playback.hls as string);
    await page.waitForFunction(
      () => (document.getElementById("v") as HTMLVideoElement).currentTime > 2,
      null,
      {
        timeout: 60_000,
      },
    );
    const state = await page.evaluate(() => {
      const v = document.getElementById("v") as HTMLVideoElement;
      const s = (window as unknown as { state: { errors: string[]; levels: number[] } }).state;
      return { height: v.videoHeight, ...s };
    });
    expect(state.errors.filter((e) => e.endsWith(":fatal"))).toEqual([]);
    expect(state.height).toBeGreaterThan(0);
    expect(state.levels.sort((a, b) => a - b)).toEqual([480, 540]);
    await page.close();
  });

  it("meets Apple's playlist rules, read with hls-parser", async () => {
    const HLS = (await import("hls-parser")).default;
    const masterUrl = video.playback.hls as string;
    const master = HLS.parse(await text(masterUrl));
    if (!master.isMasterPlaylist) throw new Error("not a master playlist");
    const streams = master.variants.filter((v) => !v.isIFrameOnly);
    const iframes = master.variants.filter((v) => v.isIFrameOnly);
    expect(streams.length).toBe(2);
    // 9.1-9.4, 9.14, 9.15: CODECS, RESOLUTION, AVERAGE-BANDWIDTH, FRAME-RATE; I-frame streams per rung.
    for (const v of streams) {
      expect(v.codecs).toMatch(/^avc1\.[0-9a-f]{6},mp4a\.40\.2$/);
      expect(v.resolution?.height).toBeGreaterThan(0);
      expect(v.averageBandwidth).toBeGreaterThan(0);
      expect(v.frameRate).toBeGreaterThan(0);
      expect(v.audio.length).toBeGreaterThan(0);
      expect(v.subtitles.map((s) => s.language)).toEqual(["en"]);
    }
    expect(iframes.map((v) => v.resolution?.height).sort()).toEqual(
      streams.map((v) => v.resolution?.height).sort(),
    );
    for (const v of iframes) {
      expect(v.codecs).toMatch(/^avc1\.[0-9a-f]{6}$/);
      expect(v.bandwidth).toBeGreaterThan(0);
      const playlist = HLS.parse(await text(new URL(v.uri, masterUrl).href));
      if (playlist.isMasterPlaylist) throw new Error("I-frame playlist is a master");
      expect(playlist.isIFrame).toBe(true);
      expect(playlist.playlistType).toBe("VOD");
      expect(playlist.segments.length).toBeGreaterThanOrEqual(5); // an IDR every 2 s over 11 s
      for (const s of playlist.segments) {
        expect(s.byterange?.length).toBeGreaterThan(0);
        expect(s.map?.uri).toBe("init.mp4");
      }
    }
    // 7.7: no segment exceeds the target duration by more than 0.5 s; VOD; independent segments.
    expect(master.independentSegments).toBe(true);
    for (const v of streams) {
      const playlist = HLS.parse(await text(new URL(v.uri, masterUrl).href));
      if (playlist.isMasterPlaylist) throw new Error("variant is a master");
      expect(playlist.playlistType).toBe("VOD");
      expect(playlist.targetDuration).toBeLessThanOrEqual(6);
      for (const s of playlist.segments)
        expect(s.duration).toBeLessThanOrEqual(playlist.targetDuration + 0.5);
    }
  });

  it.skipIf(!withChromium)("hls.js shows I-frames for trick play and the English subtitles", async () => {
    const page = await newPage();
    const iframe = await page.evaluate(async (src) => {
      const w = window as unknown as { Hls: typeof import("hls.js").default };
      const video = document.getElementById("v") as HTMLVideoElement;
      const hls = new w.Hls();
      await new Promise<void>((resolve, reject) => {
        hls.on(w.Hls.Events.MANIFEST_PARSED, () => resolve());
        hls.on(w.Hls.Events.ERROR, (_e, d) => d.fatal && reject(new Error(d.details)));
        hls.loadSource(src);
      });
      const variants = hls.iframeVariants.length;
      const player = hls.createIFramePlayer();
      if (!player) return { variants, shown: [] as number[] };
      // Attached before the first loadMediaAt (the player loads its I-frame playlist on that first call):
      // CI saw the first of three never shown when it was asked before the MediaSource had opened.
      await new Promise<void>((resolve, reject) => {
        player.on(w.Hls.Events.MEDIA_ATTACHED, () => resolve());
        player.on(w.Hls.Events.ERROR, (_e, d) => d.fatal && reject(new Error(d.details)));
        player.attachMedia(video);
      });
      const shown: number[] = [];
      // Scrub forward through the video as a trick-play UI would: each I-frame is loaded and shown.
      for (const t of [1, 4.2, 8.5]) {
        player.loadMediaAt(t);
        // Shown once the element is at the asked time and has its picture (polled: a "seeked" can fire
        // before the frame is decoded on a busy machine). Asked again every 5 s as a scrubbing UI would.
        const deadline = Date.now() + 20_000;
        let askedAt = Date.now();
        while (Date.now() < deadline) {
          const moved = Math.abs(video.currentTime - t) < 0.05;
          if (moved && video.readyState >= 2 && video.videoWidth > 0) break;
          if (Date.now() - askedAt > 5_000) {
            player.loadMediaAt(t);
            askedAt = Date.now();
          }
          await new Promise((r) => setTimeout(r, 100));
        }
        if (Math.abs(video.currentTime - t) < 0.05 && video.readyState >= 2 && video.videoWidth > 0)
          shown.push(video.currentTime);
      }
      const requests = performance
        .getEntriesByType("resource")
        .map((e) => e.name)
        .filter((n) => n.includes("iframes.m3u8")).length;
      player.destroy();
      hls.destroy();
      return { variants, shown, requests };
    }, video.playback.hls as string);
    expect(iframe.variants).toBe(2);
    expect(iframe.requests).toBeGreaterThan(0);
    expect(iframe.shown.length, JSON.stringify(iframe)).toBe(3);
    // Each shown frame is the I-frame at or before the asked time (an IDR every 2 s).
    expect(iframe.shown[0]).toBeLessThanOrEqual(1.01);
    expect(iframe.shown[2]).toBeGreaterThan(5.9);

    const cues = await page.evaluate(async (src) => {
      const w = window as unknown as { Hls: typeof import("hls.js").default };
      const video = document.getElementById("v") as HTMLVideoElement;
      const hls = new w.Hls();
      hls.subtitleDisplay = true;
      hls.loadSource(src);
      hls.attachMedia(video);
      await new Promise<void>((resolve) => hls.on(w.Hls.Events.SUBTITLE_TRACKS_UPDATED, () => resolve()));
      hls.subtitleTrack = 0;
      await video.play();
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        const track = Array.from(video.textTracks).find((t) => t.language === "en");
        const found = Array.from(track?.cues ?? []).map((c) => (c as VTTCue).text);
        if (found.length >= 2) return { tracks: hls.subtitleTracks.map((t) => t.lang), found };
        await new Promise((r) => setTimeout(r, 200));
      }
      return { tracks: hls.subtitleTracks.map((t) => t.lang), found: [] as string[] };
    }, video.playback.hls as string);
    expect(cues.tracks).toEqual(["en"]);
    expect(cues.found).toEqual(["Hello from the captions", "Still talking"]);
    await page.close();
  });

  it.skipIf(!withChromium)("dash.js plays the MPD, with every rung and the subtitles", async () => {
    const page = await newPage();
    const state = await page.evaluate(async (src) => {
      const w = window as unknown as {
        dashjs: { MediaPlayer(): { create(): DashPlayer } };
      };
      type DashPlayer = {
        initialize(el: HTMLVideoElement, url: string, autoPlay: boolean): void;
        on(event: string, cb: (e: { error?: unknown }) => void): void;
        getRepresentationsByType(type: string): { height: number }[];
        getTracksFor(type: string): { lang: string }[];
      };
      const video = document.getElementById("v") as HTMLVideoElement;
      const player = w.dashjs.MediaPlayer().create();
      const errors: string[] = [];
      player.on("error", (e) => errors.push(JSON.stringify(e.error)));
      player.initialize(video, src, true);
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline && video.currentTime < 3) await new Promise((r) => setTimeout(r, 200));
      return {
        time: video.currentTime,
        height: video.videoHeight,
        rungs: player.getRepresentationsByType("video").map((r) => r.height),
        text: player.getTracksFor("text").map((t) => t.lang),
        errors,
      };
    }, video.playback.dash as string);
    expect(state.errors).toEqual([]);
    expect(state.time).toBeGreaterThan(3);
    expect(state.height).toBeGreaterThan(0);
    expect(state.rungs.sort()).toEqual([480, 540]);
    expect(state.text).toEqual(["en"]);
    await page.close();
  });

  it("ffmpeg decodes every representation of the MPD through the edge", async () => {
    const mpd = video.playback.dash as string;
    const probe = await run("ffprobe", [
      "-v",
      "error",
      "-show_entries",
      "stream=index,codec_type,height",
      "-of",
      "json",
      mpd,
    ]);
    const streams = (
      JSON.parse(probe.stdout) as { streams: { index: number; codec_type: string; height?: number }[] }
    ).streams;
    expect(
      streams
        .filter((s) => s.codec_type === "video")
        .map((s) => s.height)
        .sort(),
    ).toEqual([480, 540]);
    expect(streams.filter((s) => s.codec_type === "audio")).toHaveLength(1);
    expect(streams.filter((s) => s.codec_type === "subtitle")).toHaveLength(1); // the English captions
    // Every representation decoded (framecrc: one line per decoded frame, "<stream>, pts, …").
    const { stdout, stderr } = await run(
      "ffmpeg",
      [
        "-v",
        "error",
        "-i",
        mpd,
        "-map",
        "0:v",
        "-map",
        "0:a",
        "-fps_mode",
        "passthrough",
        "-f",
        "framecrc",
        "-",
      ],
      {
        timeout: 60_000,
        maxBuffer: 16 * 1024 * 1024,
      },
    );
    expect(stderr).toBe("");
    const frames = new Map<number, number>();
    for (const line of stdout.split("\n")) {
      const stream = /^(\d+),/.exec(line)?.[1];
      if (stream !== undefined) frames.set(Number(stream), (frames.get(Number(stream)) ?? 0) + 1);
    }
    // Each video representation decodes, without an error, to the frames ffmpeg gets from the same rung
    // over HLS (the same segments) less at most one per segment boundary: ffmpeg 5.1's dash demuxer loses
    // a frame at each of the 4 boundaries of the chunked rungs (negative composition offsets, no edit
    // list), which the HLS demuxer, dash.js and hls.js do not (seen here: 326 of 330). The audio decodes.
    const playlists = new Map([
      [480, "480p/index.m3u8"],
      [540, "540p/index.m3u8"],
    ]);
    for (const s of streams) {
      if (s.codec_type === "audio") expect(frames.get(s.index), `stream ${s.index}`).toBeGreaterThan(500);
      if (s.codec_type !== "video") continue;
      const hls = await run(
        "ffmpeg",
        [
          "-v",
          "error",
          "-i",
          new URL(playlists.get(s.height ?? 0) ?? "", video.playback.hls as string).href,
        ].concat(["-map", "0:v", "-fps_mode", "passthrough", "-f", "framecrc", "-"]),
        { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
      );
      const overHls = hls.stdout.split("\n").filter((line) => /^\d+,/.test(line)).length;
      expect(overHls).toBeGreaterThan(320); // 11 s at 30 fps
      const overDash = frames.get(s.index) ?? 0;
      expect(overDash, `stream ${s.index} (${s.height}p)`).toBeLessThanOrEqual(overHls);
      expect(overDash, `stream ${s.index} (${s.height}p)`).toBeGreaterThanOrEqual(overHls - 4);
    }
  });

  it("the storyboard's regions lie inside its sprites", async () => {
    const vttUrl = video.playback.storyboard as string;
    const vtt = await text(vttUrl);
    const cues = [...vtt.matchAll(/([\d:.]+) --> ([\d:.]+)\n(\S+)#xywh=(\d+),(\d+),(\d+),(\d+)/g)];
    expect(cues.length).toBeGreaterThanOrEqual(10);
    const sizes = new Map<string, { width: number; height: number }>();
    for (const [, , , sprite, x, y, w, h] of cues) {
      const file = sprite as string;
      if (!sizes.has(file)) {
        const res = await fetch(new URL(file, vttUrl));
        expect(res.headers.get("content-type")).toBe("image/jpeg");
        const local = path.join(dir, file);
        writeFileSync(local, Buffer.from(await res.arrayBuffer()));
        const { stdout } = await run("ffprobe", [
          "-v",
          "error",
          "-show_entries",
          "stream=width,height",
          "-of",
          "json",
          local,
        ]);
        sizes.set(file, JSON.parse(stdout).streams[0]);
      }
      const size = sizes.get(file) as { width: number; height: number };
      expect(Number(x) + Number(w)).toBeLessThanOrEqual(size.width);
      expect(Number(y) + Number(h)).toBeLessThanOrEqual(size.height);
    }
  });

  it("the MP4 download has its moov first, plays, and lasts as long as the video", async () => {
    const answer = await fetch(`${edge}/v1/videos/${videoId}/download`, {
      headers: { authorization: `Bearer ${client.accessToken()}` },
    });
    expect(answer.status).toBe(200);
    const { url } = (await answer.json()) as { url: string };
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-disposition")).toMatch(/^attachment;/);
    const file = path.join(dir, "download.mp4");
    const bytes = Buffer.from(await res.arrayBuffer());
    writeFileSync(file, bytes);
    // Top-level boxes: ftyp, moov, then mdat (progressive, "fast start").
    const order: string[] = [];
    for (let at = 0; at + 8 <= bytes.length && order.length < 6; ) {
      const size = bytes.readUInt32BE(at);
      order.push(bytes.toString("latin1", at + 4, at + 8));
      if (size < 8) break;
      at += size;
    }
    expect(order.indexOf("moov")).toBeGreaterThan(-1);
    expect(order.indexOf("moov")).toBeLessThan(order.indexOf("mdat"));
    expect(order).not.toContain("moof");
    const { stdout } = await run("ffprobe", [
      "-v",
      "error",
      "-show_entries",
      "format=duration",
      "-of",
      "json",
      file,
    ]);
    expect(Number(JSON.parse(stdout).format.duration)).toBeCloseTo(video.durationSeconds as number, 0);
    await run("ffmpeg", ["-v", "error", "-xerror", "-i", file, "-f", "null", "-"], { timeout: 60_000 });
  });

  it("a private video's new assets each need its token", async () => {
    const patched = await fetch(`${edge}/v1/videos/${videoId}`, {
      method: "PATCH",
      headers: { authorization: `Bearer ${client.accessToken()}`, "content-type": "application/json" },
      body: JSON.stringify({ visibility: "private" }),
    });
    expect(patched.status).toBe(200);
    const owner = await client.getVideo(videoId);
    const signed = `${(owner.playback.hls as string).replace(/\/master\.m3u8$/, "")}/`;
    expect(signed).toMatch(/\/t\/[^/]+\/$/);
    const open = `${edge}/v1/play/${videoId}/`;
    const sprite = (await text(`${signed}storyboard/storyboard.vtt`)).match(/(sprite_\d+\.jpg)/)?.[1];
    const assets = [
      "manifest.mpd",
      "540p/iframes.m3u8",
      "storyboard/storyboard.vtt",
      `storyboard/${sprite}`,
      "subtitles/en.m3u8",
      "subtitles/en.vtt",
    ];
    for (const asset of assets) {
      expect((await fetch(`${open}${asset}`)).status, asset).toBe(404);
      expect((await fetch(`${signed}${asset}`)).status, asset).toBe(200);
    }
    expect((await fetch(`${open}download/video.mp4`)).status).toBe(404);
    expect((await fetch(`${signed}download/video.mp4`)).status).toBe(404);
  });
});
