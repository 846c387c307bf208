import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { AuthTokens, Video } from "@streamlet/shared";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient, waitForTerminal } from "../../../scripts/stack/client.ts";
import { makeClip } from "../../../scripts/stack/clip.ts";
import {
  checkA11y,
  checkNoHorizontalScroll,
  edge,
  launch,
  noChromium,
  signedInContext,
  watchErrors,
} from "./browser.ts";

// The owner's delivery settings in Chromium: on My videos, add captions (a bad language and a bad file
// refused with the reason, a good SRT saved, one deleted after a confirmation), read each rung's quality,
// turn downloads off and on; then the watch page offers the captions to the player and downloads the MP4.
// One short clip.
const suffix = crypto.randomUUID().replaceAll("-", "").slice(0, 10);
const SRT = "1\n00:00:00,000 --> 00:00:01,500\nOlá\n\n2\n00:00:01,500 --> 00:00:02,000\nTchau\n";
const VTT = "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nHello\n";
const BAD_SRT = "1\n00:00:01,000 --> 00:00:02,000\nfine\n\n2\n00:00:03,000 --> 00:00:02,500\nbackwards\n";
let dir = "";
let browser: Browser | undefined;
let owner: ReturnType<typeof apiClient>;
let auth: AuthTokens;
let video: Video;

beforeAll(async () => {
  if (noChromium) return;
  dir = mkdtempSync(path.join(os.tmpdir(), "streamlet-delivery-ui-"));
  const clip = makeClip(path.join(dir, "clip.mp4"), { seconds: 2, width: 640, height: 360 });
  owner = apiClient(edge);
  [auth, browser] = await Promise.all([
    owner.signup(`delivery-ui-${suffix}@example.com`, "a long enough password"),
    launch(),
    clip,
  ]);
  const created = await owner.createVideo(`Delivery clip ${suffix}`, await clip);
  await owner.upload(created, await clip);
  await owner.markUploaded(created.video.id);
  video = await waitForTerminal(owner, created.video.id, { timeoutMs: 90_000 });
  expect(video.status, video.failureReason ?? "").toBe("ready");
});
afterAll(async () => {
  await browser?.close();
  if (video) await owner.api.DELETE("/v1/videos/{id}", { params: { path: { id: video.id } } });
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(noChromium)("downloads and captions", () => {
  it("lets the owner add captions, read quality, toggle downloads and download the MP4", async () => {
    const context = await signedInContext(browser as Browser, auth);
    const page = await context.newPage();
    const errors = watchErrors(page);
    await page.goto("/me/videos");
    const item = page.getByRole("listitem").filter({ has: page.getByRole("heading", { name: video.title }) });
    await item.locator("summary").click();
    const form = item.getByRole("form", { name: `Add captions to “${video.title}”` });
    const file = (name: string, text: string) => ({
      name,
      mimeType: "text/plain",
      buffer: Buffer.from(text),
    });

    // Refused here first (the language), then by the edge (the file), each with its reason.
    await form.getByLabel("Captions file (WebVTT or SRT)").setInputFiles(file("subs.srt", SRT));
    await form.getByLabel("Language").fill("portuguese");
    await form.getByRole("button", { name: "Add captions" }).click();
    await expect.poll(() => form.getByRole("alert").textContent()).toContain("is not a language tag");
    await form.getByLabel("Captions file (WebVTT or SRT)").setInputFiles(file("bad.srt", BAD_SRT));
    await form.getByLabel("Language").fill("pt-BR");
    await form.getByRole("button", { name: "Add captions" }).click();
    await expect.poll(() => form.getByRole("alert").textContent()).toMatch(/line \d+/i);

    // Saved: pt-BR with a label, en by default; then en deleted after the question.
    await form.getByLabel("Captions file (WebVTT or SRT)").setInputFiles(file("subs.srt", SRT));
    await form.getByLabel("Label (optional)").fill("Português");
    await form.getByRole("button", { name: "Add captions" }).click();
    await item.getByRole("link", { name: /Português \(pt-BR\)/ }).waitFor();
    await form.getByLabel("Captions file (WebVTT or SRT)").setInputFiles(file("en.vtt", VTT));
    await form.getByLabel("Language").fill("en");
    await form.getByRole("button", { name: "Add captions" }).click();
    await item.getByRole("link", { name: /\(en\)/ }).waitFor();
    // Each rung's quality, for the owner: SSIM to 3 decimals, PSNR in dB.
    const quality = item.getByRole("table", { name: "Quality of each rendition compared with the source" });
    await expect.poll(() => quality.locator("tbody td").nth(1).textContent()).toMatch(/^[01]\.\d{3}$/);
    await expect.poll(() => quality.locator("tbody td").nth(2).textContent()).toMatch(/^\d+\.\d dB$/);
    await checkA11y(page, "my videos (delivery open)");
    await page.setViewportSize({ width: 375, height: 800 });
    await checkNoHorizontalScroll(page, "my videos (delivery open) at 375 px");
    await page.setViewportSize({ width: 1280, height: 900 });
    await item.getByRole("button", { name: /^Delete the .* \(en\) captions$/ }).click();
    await item
      .getByRole("group", { name: /Delete the .* \(en\) captions\?/ })
      .getByRole("button", { name: "Delete" })
      .click();
    await item.getByText(/^Deleted the .* captions\.$/).waitFor();
    expect((await owner.getVideo(video.id)).captions.map((c) => c.language)).toEqual(["pt-BR"]);

    // Downloads off, then on again, said in words (saved once "Saving…" is gone).
    const toggle = item.getByRole("checkbox", { name: "Downloads" });
    await toggle.uncheck();
    await item.getByText(/^Off: only you can download this video\.$/).waitFor();
    expect((await owner.getVideo(video.id)).downloadsEnabled).toBe(false);
    await toggle.check();
    await item.getByText(/^On: anyone who can watch this video can download it as an MP4\.$/).waitFor();
    expect((await owner.getVideo(video.id)).downloadsEnabled).toBe(true);

    // The watch page: hls.js hands the subtitles to the player; Download saves the MP4.
    await page.goto(`/watch/${video.id}`);
    await page.waitForFunction(() =>
      Array.from((document.querySelector("hls-video") as HTMLVideoElement | null)?.textTracks ?? []).some(
        (t) => t.kind === "subtitles" && t.label === "Português",
      ),
    );
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: /^Download/ }).click(),
    ]);
    expect(download.suggestedFilename()).toMatch(/\.mp4$/);
    // The bad file's 400 is the one error the browser logs.
    errors.assertClean([/status of 400 .*\/captions\/pt-BR$/]);
    await context.close();
  });
});
