import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { signedUpClient, waitForTerminal } from "../../../scripts/stack/client.ts";
import { makeClip } from "../../../scripts/stack/clip.ts";
import { run } from "../../../scripts/stack/proc.ts";
import { ROOT } from "../../../scripts/stack/services.ts";

// Issue 11: a video is watchable while it is still processing. The stack's transcoder publishes each
// chunk as it lands (EVENT playlists, then the master once every rung and the audio have a segment); a
// viewer starts at the beginning through the edge, with hls.js in Chromium and with ffmpeg, and plays
// through to the end once the video turns ready.

const edge = inject("edgeUrl");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
// 30 s = six chunks (1, 5, then four of 6 s): five are still to encode once the first is published, and
// the rest of the run (encode, the 4x viewers' playback) scales with the length.
const SECONDS = 30;

const PAGE = `<!doctype html><meta charset="utf-8"><title>player</title>
<video id="v" muted playsinline></video>
<script src="/hls.min.js"></script>
<script>
  window.player = { errors: [], ended: false, maxTime: 0 };
  window.play = (src) => {
    const video = document.getElementById("v");
    // startPosition 0: from the beginning even though the playlist is still an EVENT one (MEDIA.md).
    const hls = new Hls({ startPosition: 0 });
    hls.on(Hls.Events.MANIFEST_PARSED, () => {
      video.playbackRate = 4;
      video.play();
    });
    hls.on(Hls.Events.ERROR, (_, data) => window.player.errors.push(data.type + ":" + data.details + (data.fatal ? ":fatal" : "")));
    video.addEventListener("timeupdate", () => { window.player.maxTime = Math.max(window.player.maxTime, video.currentTime); });
    video.addEventListener("ended", () => { window.player.ended = true; });
    hls.loadSource(src);
    hls.attachMedia(video);
  };
</script>`;

let server: http.Server;
let pageOrigin = "";
let browser: Browser | undefined;
let dir = "";
let clip = "";

beforeAll(async () => {
  const hlsJs = readFileSync(path.join(ROOT, "node_modules", "hls.js", "dist", "hls.min.js"));
  server = http.createServer((req, res) => {
    if (req.url === "/hls.min.js") res.writeHead(200, { "content-type": "text/javascript" }).end(hlsJs);
    else res.writeHead(200, { "content-type": "text/html" }).end(PAGE);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  pageOrigin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = mkdtempSync(path.join(os.tmpdir(), "streamlet-watch-"));
  // Long enough that several chunks are still encoding once the first is published, on 2 cores.
  clip = await makeClip(path.join(dir, "clip.mp4"), { seconds: SECONDS, width: 1280, height: 720, fps: 30 });
});

afterAll(async () => {
  await browser?.close();
  server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("watching while it is still processing", () => {
  it.skipIf(!existsSync(CHROMIUM))(
    "plays from the start through the edge (hls.js and ffmpeg) before ready, and to the end after",
    async () => {
      const api = await signedUpClient(edge, "watch");
      const created = await api.createVideo("watch while processing", clip);
      const id = created.video.id;
      await api.upload(created, clip);
      const uploadedAt = Date.now();
      await api.markUploaded(id);

      // Playable: playback.hls while the status is still processing.
      let video = await api.getVideo(id);
      while (!video.playback.hls) {
        if (video.status === "failed") throw new Error(`failed: ${video.failureReason}`);
        if (Date.now() - uploadedAt > 120_000) throw new Error("never became playable");
        await new Promise((r) => setTimeout(r, 200));
        video = await api.getVideo(id);
      }
      const playableAfter = (Date.now() - uploadedAt) / 1000;
      expect(video.status).toBe("processing");
      expect(video.playableAt).not.toBeNull();
      const hls = video.playback.hls;
      const base = hls.slice(0, hls.lastIndexOf("/") + 1);

      // The variant playlists are EVENT playlists that start at the beginning and are not finished yet.
      const variant = await (await fetch(`${base}720p/index.m3u8`)).text();
      expect(variant).toContain("#EXT-X-PLAYLIST-TYPE:EVENT");
      expect(variant).toContain("#EXT-X-START:TIME-OFFSET=0");
      expect(variant).not.toContain("#EXT-X-ENDLIST");

      // ffmpeg decodes the opening through the edge (from the first segment: -live_start_index 0).
      await run("ffmpeg", [
        "-v",
        "error",
        "-xerror",
        "-live_start_index",
        "0",
        "-i",
        hls,
        "-t",
        "1.5",
        "-f",
        "null",
        "-",
      ]);

      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          "--no-sandbox",
          "--disable-gpu",
          "--no-first-run",
          "--autoplay-policy=no-user-gesture-required",
        ],
      });
      const page = await browser.newPage();
      await page.goto(pageOrigin);
      await page.evaluate((src) => (window as unknown as { play(s: string): void }).play(src), hls);
      await page.waitForFunction(
        () => (window as unknown as { player: { maxTime: number } }).player.maxTime > 1,
        null,
        { timeout: 60_000 },
      );
      const startedWhile = (await api.getVideo(id)).status;

      const ready = await waitForTerminal(api, id, { timeoutMs: 240_000 });
      expect(ready.status).toBe("ready");
      const final = await (await fetch(`${base}720p/index.m3u8`)).text();
      expect(final).toContain("#EXT-X-ENDLIST");

      {
        // A viewer who starts after ready plays the finished video to its end too.
        const page2 = await browser.newPage();
        await page2.goto(pageOrigin);
        await page2.evaluate((src) => (window as unknown as { play(s: string): void }).play(src), hls);
        await page2
          .waitForFunction(() => (window as unknown as { player: { ended: boolean } }).player.ended, null, {
            timeout: 60_000,
          })
          .catch(async (err: unknown) => {
            const dump = await page2.evaluate(() => {
              const v = document.getElementById("v") as HTMLVideoElement;
              return {
                player: (window as unknown as { player: unknown }).player,
                t: v.currentTime,
                d: v.duration,
              };
            });
            throw new Error(`VOD: ${String(err)}: ${JSON.stringify(dump)}`);
          });
      }
      // The viewer who started during processing plays on through to the end (at 4x), with no fatal
      // player error. This once stalled under CI load: the audio playlist grew ahead of the video's,
      // Chromium played audio alone past the video, and hls.js seeked back to its live edge into a hole
      // it never filled (ranges [0,6] and [18,30], stuck at 17.76); the audio now lists no further
      // than the video (transcoder/src/publication.ts).
      await page
        .waitForFunction(() => (window as unknown as { player: { ended: boolean } }).player.ended, null, {
          timeout: 120_000,
        })
        .catch(async (err: unknown) => {
          const dump = await page.evaluate(() => {
            const v = document.getElementById("v") as HTMLVideoElement;
            const ranges = Array.from({ length: v.buffered.length }, (_, i) => [
              v.buffered.start(i),
              v.buffered.end(i),
            ]);
            return {
              player: (window as unknown as { player: unknown }).player,
              t: v.currentTime,
              d: v.duration,
              paused: v.paused,
              ranges,
            };
          });
          throw new Error(`${String(err)}: ${JSON.stringify(dump)}`);
        });
      const state = await page.evaluate(
        () => (window as unknown as { player: { errors: string[]; maxTime: number } }).player,
      );
      expect(state.errors.filter((e) => e.endsWith(":fatal"))).toEqual([]);
      expect(state.maxTime).toBeGreaterThan(SECONDS - 1);
      console.info(
        `watch-while-processing: playable ${playableAfter.toFixed(1)} s after /uploaded; playback started while ${startedWhile}`,
      );
    },
    420_000,
  );
});
