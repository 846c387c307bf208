import { mkdtempSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Browser, BrowserContext, Page, Request, Route } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeClip } from "../../../scripts/stack/clip.ts";
import { run } from "../../../scripts/stack/proc.ts";
import {
  checkA11y,
  checkNoHorizontalScroll,
  launch,
  newContext,
  noChromium,
  screenshot,
  signUp,
  watchErrors,
} from "./browser.ts";

const MiB = 1024 * 1024;
let browser: Browser | undefined;
let context: BrowserContext | undefined;
let page: Page;
let errors: ReturnType<typeof watchErrors>;
let dir = "";
let small = "";
let big = "";

/**
 * A short clip of lossless noise, 10-15 MiB: above the test stack's 6 MiB multipart threshold (three 5 MiB
 * parts) and above the 10 MiB Golden Retriever keeps in IndexedDB, so a reload loses its blob.
 */
async function makeNoiseClip(file: string) {
  await run("ffmpeg", [
    ...["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"],
    ...["-vf", "noise=alls=20:allf=t", "-t", "1.4", "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0"],
    ...["-pix_fmt", "yuv420p", "-movflags", "+faststart", file],
  ]);
  return file;
}

const isPartPut = (request: Request) =>
  request.method() === "PUT" && /[?&]partNumber=\d+/.test(request.url());
const partOf = (request: Request) => Number(/[?&]partNumber=(\d+)/.exec(request.url())?.[1]);
const isCreate = (request: Request) =>
  request.method() === "POST" && new URL(request.url()).pathname === "/v1/videos";

beforeAll(async () => {
  if (noChromium) return;
  dir = mkdtempSync(path.join(os.tmpdir(), "streamlet-upload-e2e-"));
  [small, big, browser] = await Promise.all([
    makeClip(path.join(dir, "first-clip.mp4"), { seconds: 4, width: 640, height: 360 }),
    makeNoiseClip(path.join(dir, "big-noise.mp4")),
    launch(),
  ]);
  context = await newContext(browser);
  page = await context.newPage();
  errors = watchErrors(page);
  await signUp(page, "upload");
});

afterAll(async () => {
  await context?.close();
  await browser?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(noChromium)("the upload and My videos pages", () => {
  let bigVideoId = "";

  it("resumes a multipart upload after a reload, sending only the parts storage lacks", async () => {
    const size = statSync(big).size;
    expect(size).toBeGreaterThan(10 * MiB);
    expect(size).toBeLessThanOrEqual(15 * MiB);

    // Part 1 goes through; the others are held (never answered) until the page reloads under them.
    const held: Route[] = [];
    let holding = true;
    await page.route(/[?&]partNumber=\d+/, async (route) => {
      if (holding && route.request().method() === "PUT" && partOf(route.request()) !== 1) held.push(route);
      else await route.continue();
    });
    const sent: { phase: "before" | "after"; part: number }[] = [];
    let creates = 0;
    let phase: "before" | "after" = "before";
    page.on("request", (request) => {
      if (isPartPut(request)) sent.push({ phase, part: partOf(request) });
      if (isCreate(request)) creates++;
    });

    await page.goto("/upload");
    await page.getByRole("heading", { name: "Upload videos" }).waitFor();
    await page.locator("input.uppy-Dashboard-input").first().setInputFiles(big);
    await page.getByLabel("Title").fill("Big noise");
    const created = page.waitForResponse((r) => isCreate(r.request()));
    const firstPart = page.waitForResponse((r) => isPartPut(r.request()) && partOf(r.request()) === 1);
    await page.getByRole("button", { name: "Upload 1 video" }).click();
    bigVideoId = ((await (await created).json()) as { video: { id: string } }).video.id;
    expect((await firstPart).status()).toBe(200);
    // The page shows the upload part way, and Golden Retriever has stored where it is.
    const meter = page.getByRole("progressbar", { name: "Upload" });
    await expect.poll(async () => Number(await meter.getAttribute("value"))).toBeGreaterThan(0);
    expect(Number(await meter.getAttribute("value"))).toBeLessThan(100);
    await page.waitForFunction(() =>
      Object.keys(localStorage).some((k) => localStorage.getItem(k)?.includes('"s3Multipart"')),
    );
    await expect.poll(() => held.length).toBeGreaterThan(0);

    holding = false;
    phase = "after";
    await page.reload();
    // The browser kept no copy of a file this big: the page says to pick it again, and then resumes.
    await page.getByText("waiting for its file").waitFor();
    await page.getByLabel("Choose “big-noise.mp4” again").setInputFiles(big);

    const watch = page.getByRole("link", { name: "Watch now" });
    await watch.waitFor({ timeout: 90_000 });
    expect(await watch.getAttribute("href")).toBe(`/watch/${bigVideoId}`);
    await page.getByRole("status").getByText("Ready.").waitFor({ timeout: 90_000 });
    expect(creates).toBe(1);
    const after = sent.filter((s) => s.phase === "after").map((s) => s.part);
    expect(after.length).toBeGreaterThan(0);
    expect(after).not.toContain(1);
    expect(new Set(after).size).toBeLessThan(Math.ceil(size / (5 * MiB)));
    await page.unrouteAll({ behavior: "ignoreErrors" });
  });

  it("uploads a clip with its details and follows its transcode until it can be watched", async () => {
    await page.goto("/upload");
    await page.getByRole("heading", { name: "Upload videos" }).waitFor();
    await page.locator("input.uppy-Dashboard-input").first().setInputFiles(small);
    await page.getByLabel("Title").fill("My first upload");
    await page.getByLabel("Description").fill("Made by the upload test.");
    await page.getByLabel("Visibility").selectOption("public");
    await checkA11y(page, "upload page with a file picked");
    await screenshot(page, "upload");
    const created = page.waitForResponse((r) => isCreate(r.request()));
    await page.getByRole("button", { name: "Upload 1 video" }).click();
    const { video } = (await (await created).json()) as { video: { id: string } };
    await page.getByText("Uploaded.").waitFor();
    const watch = page.getByRole("link", { name: "Watch now" });
    await watch.waitFor({ timeout: 90_000 });
    expect(await watch.getAttribute("href")).toBe(`/watch/${video.id}`);
    await page.getByRole("status").getByText("Ready.").waitFor({ timeout: 90_000 });
    await checkA11y(page, "upload page with a finished upload");
  });

  it("uploads from one tab at a time: a second /upload tab waits, and takes over when the first closes", async () => {
    const second = await (context as BrowserContext).newPage();
    await second.goto("/upload");
    await second.getByText("open in another tab").waitFor();
    await checkA11y(second, "upload page, uploads open in another tab");
    const first = page;
    page = second;
    errors.assertClean();
    errors = watchErrors(second);
    await first.close();
    await second.getByText("Add one or more video files").waitFor();
    expect(await second.getByText("open in another tab").count()).toBe(0);
  });

  it("lists the videos, edits one in place and deletes one after asking", async () => {
    await page.goto("/me/videos");
    const list = page.getByRole("list", { name: "Your videos" });
    await list.getByRole("heading", { name: "My first upload" }).waitFor();
    await list.getByRole("heading", { name: "Big noise" }).waitFor();

    const first = list
      .getByRole("listitem")
      .filter({ has: page.getByRole("heading", { name: "My first upload" }) });
    await first.getByRole("button", { name: "Edit “My first upload”" }).click();
    await first.getByLabel("Title").fill("Renamed upload");
    await first.getByLabel("Visibility").selectOption("unlisted");
    await first.getByRole("button", { name: "Save" }).click();
    const renamed = list
      .getByRole("listitem")
      .filter({ has: page.getByRole("heading", { name: "Renamed upload" }) });
    await renamed.getByText("Unlisted").waitFor();

    await list.getByRole("button", { name: "Delete “Big noise”" }).click();
    const dialog = page.getByRole("dialog", { name: "Delete “Big noise”?" });
    await dialog.waitFor();
    await checkA11y(page, "My videos with the delete dialog open");
    await screenshot(page, "my-videos-delete");
    await dialog.getByRole("button", { name: "Delete video" }).click();
    await page.getByText("Deleted “Big noise”.").waitFor();
    expect(await list.getByRole("heading", { name: "Big noise" }).count()).toBe(0);

    // What the page showed is what the edge holds.
    await page.reload();
    await list.getByRole("heading", { name: "Renamed upload" }).waitFor();
    expect(await list.getByRole("heading", { name: "Big noise" }).count()).toBe(0);
    expect(await list.getByText("Unlisted").count()).toBe(1);

    await page.setViewportSize({ width: 375, height: 800 });
    await checkNoHorizontalScroll(page, "My videos at 375 px");
    await page.goto("/upload");
    await page.locator("input.uppy-Dashboard-input").first().setInputFiles(small);
    await page.getByLabel("Title").waitFor();
    await checkNoHorizontalScroll(page, "the upload page at 375 px with a file picked");
    errors.assertClean();
  });
});
