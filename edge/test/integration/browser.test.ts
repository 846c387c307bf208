import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { signedUpClient, waitForTerminal } from "../../../scripts/stack/client.ts";
import { makeClip } from "../../../scripts/stack/clip.ts";
import { ROOT } from "../../../scripts/stack/services.ts";

const edge = inject("edgeUrl");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

const PAGE = `<!doctype html><meta charset="utf-8"><title>player</title>
<video id="v" muted playsinline></video>
<script src="/hls.min.js"></script>
<script>
  window.player = { errors: [], levels: [] };
  window.play = (src) => {
    const video = document.getElementById("v");
    const hls = new Hls({ startLevel: -1 });
    hls.on(Hls.Events.MANIFEST_PARSED, (_, data) => {
      window.player.levels = data.levels.map((l) => ({ height: l.height, codecs: l.codecSet, bitrate: l.bitrate }));
      video.play();
    });
    hls.on(Hls.Events.ERROR, (_, data) => window.player.errors.push(data.type + ":" + data.details + (data.fatal ? ":fatal" : "")));
    hls.loadSource(src);
    hls.attachMedia(video);
  };
</script>`;

let server: http.Server;
let pageOrigin = "";
let browser: Browser | undefined;
let dir = "";

beforeAll(async () => {
  // The player page lives on its own origin, so playback also proves the edge's CORS headers.
  const hlsJs = readFileSync(path.join(ROOT, "node_modules", "hls.js", "dist", "hls.min.js"));
  server = http.createServer((req, res) => {
    if (req.url === "/hls.min.js") res.writeHead(200, { "content-type": "text/javascript" }).end(hlsJs);
    else res.writeHead(200, { "content-type": "text/html" }).end(PAGE);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  pageOrigin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = mkdtempSync(path.join(os.tmpdir(), "streamlet-browser-"));
});

afterAll(async () => {
  await browser?.close();
  server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("playback in Chromium with hls.js", () => {
  it.skipIf(!existsSync(CHROMIUM))("plays the ladder from the edge on another origin", async () => {
    const api = await signedUpClient(edge, "browser");
    const clip = await makeClip(path.join(dir, "clip.mp4"), { seconds: 8, width: 1280, height: 720 });
    const created = await api.createVideo("browser", clip);
    await api.upload(created, clip);
    await api.markUploaded(created.video.id);
    const video = await waitForTerminal(api, created.video.id, { timeoutMs: 180_000 });
    expect(video.status).toBe("ready");

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--autoplay-policy=no-user-gesture-required",
      ],
    });
    const page = await browser.newPage();
    await page.goto(pageOrigin);
    await page.evaluate(
      (src) => (window as unknown as { play(s: string): void }).play(src),
      video.playback.hls ?? "",
    );
    await page.waitForFunction(
      () => (document.getElementById("v") as HTMLVideoElement).currentTime > 2,
      null,
      {
        timeout: 60_000,
      },
    );
    const state = await page.evaluate(() => {
      const v = document.getElementById("v") as HTMLVideoElement;
      const p = (window as unknown as { player: { errors: string[]; levels: { height: number }[] } }).player;
      return { width: v.videoWidth, height: v.videoHeight, errors: p.errors, levels: p.levels };
    });
    expect(state.errors.filter((e) => e.endsWith(":fatal"))).toEqual([]);
    expect(state.levels.map((l) => l.height).sort((a, b) => a - b)).toEqual([480, 720]);
    expect(state.height).toBeGreaterThan(0);
  });
});
