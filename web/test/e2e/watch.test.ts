import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { AuthTokens, Video } from "@streamlet/shared";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient, waitForTerminal } from "../../../scripts/stack/client.ts";
import { makeClip } from "../../../scripts/stack/clip.ts";
import {
  checkA11y,
  checkNoHorizontalScroll,
  edge,
  launch,
  newContext,
  noChromium,
  screenshot,
  signedInContext,
  watchErrors,
} from "./browser.ts";

// The watch page in Chromium: media-chrome over hls.js playing a two-rung clip (720p and 480p), its
// quality, speed and keyboard controls, the counted view, and a viewer and the owner liking, subscribing,
// commenting, replying and deleting. One clip is transcoded while the browser starts.
const suffix = crypto.randomUUID().replaceAll("-", "").slice(0, 10);
const handle = `watch_${suffix}`;
const channelName = `Watch channel ${suffix}`;
let dir = "";
let browser: Browser | undefined;
let owner: ReturnType<typeof apiClient>;
let ownerAuth: AuthTokens;
let fanAuth: AuthTokens;
let video: Video;

beforeAll(async () => {
  if (noChromium) return;
  dir = mkdtempSync(path.join(os.tmpdir(), "streamlet-watch-"));
  const clip = makeClip(path.join(dir, "clip.mp4"), { seconds: 4, width: 1280, height: 720 });
  owner = apiClient(edge);
  const fan = apiClient(edge);
  [ownerAuth, fanAuth, browser] = await Promise.all([
    owner.signup(`watch-owner-${suffix}@example.com`, "a long enough password"),
    fan.signup(`watch-fan-${suffix}@example.com`, "a long enough password"),
    launch(),
    clip,
  ]);
  const channel = await owner.api.POST("/v1/channels", { body: { handle, name: channelName } });
  expect(channel.response.status).toBe(201);
  const created = await owner.createVideo(`Watch clip ${suffix}`, await clip, "A test pattern.\nTwo lines.");
  await owner.upload(created, await clip);
  await owner.markUploaded(created.video.id);
  video = await waitForTerminal(owner, created.video.id, { timeoutMs: 90_000 });
  expect(video.status).toBe("ready");
});
afterAll(async () => {
  await browser?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A browser profile on a watch page (the clip's unless told), signed in with these tokens when given. */
async function open(
  auth?: AuthTokens,
  width?: number,
  id = video.id,
  title = video.title,
): Promise<{ context: BrowserContext; page: Page; errors: ReturnType<typeof watchErrors> }> {
  const context = auth
    ? await signedInContext(browser as Browser, auth, width)
    : await newContext(browser as Browser, width);
  const page = await context.newPage();
  const errors = watchErrors(page);
  await page.goto(`/watch/${id}`);
  await page.getByRole("heading", { level: 1, name: title }).waitFor();
  return { context, page, errors };
}

/** The <hls-video> element's state (its shadow <video> forwards these, hls.js is its `api`). */
function media(page: Page) {
  return page.evaluate(() => {
    const el = document.querySelector("hls-video") as HTMLVideoElement & {
      api?: { currentLevel: number; levels: { height: number }[] };
    };
    const level = el.api?.levels[el.api.currentLevel];
    return {
      currentTime: el.currentTime,
      paused: el.paused,
      playbackRate: el.playbackRate,
      videoHeight: el.videoHeight,
      levelHeight: level?.height ?? null,
    };
  });
}

/**
 * Opens one of media-chrome's menus from its button. A click while the player is still settling (the
 * menu re-renders as the first frame's size arrives) can close the menu again, so it tries up to 3 times.
 */
async function openMenu(page: Page, name: "rendition" | "playback-rate") {
  for (let attempt = 0; attempt < 3; attempt++) {
    await page.locator(`media-${name}-menu-button`).click();
    const opened = await page
      .locator(`media-${name}-menu:not([hidden])`)
      .waitFor({ timeout: 2000 })
      .then(() => true)
      .catch(() => false);
    if (opened) return;
  }
  throw new Error(`the ${name} menu did not open`);
}

const views = async () => (await owner.getVideo(video.id)).stats?.views ?? 0;

describe.skipIf(noChromium)("the watch page", () => {
  it("plays the video, switches quality and speed, answers a shortcut, and counts the view", async () => {
    const { context, page, errors } = await open();
    expect(await views()).toBe(0);
    await page.getByText("A test pattern.").waitFor();
    await checkA11y(page, "watch page (signed out)");

    // Quality: the rendition menu lists Auto and both rungs; pick 480p, then play.
    await openMenu(page, "rendition");
    await page.getByRole("menuitemradio", { name: "480p", exact: true }).click();
    await page.locator("media-play-button").click();
    await page.waitForFunction(
      () => (document.querySelector("hls-video") as HTMLVideoElement).currentTime > 0.5,
    );
    await expect
      .poll(() => media(page), { timeout: 15_000 })
      .toMatchObject({ levelHeight: 480, videoHeight: 480 });

    // Speed: 1.5x from the playback rate menu.
    await openMenu(page, "playback-rate");
    await page.getByRole("menuitemradio", { name: "1.5x", exact: true }).click();
    // The picked rung stays picked (Auto does not take over again).
    expect(await media(page)).toMatchObject({ playbackRate: 1.5, levelHeight: 480 });

    // Keyboard: k pauses (media-chrome's hotkeys, with focus in the player).
    await page.locator("media-play-button").focus();
    await page.keyboard.press("k");
    await expect.poll(async () => (await media(page)).paused).toBe(true);

    // The view counted once playback started; the ViewCounter writes it within about 10 s, so the last
    // test checks it, after the others ran meanwhile.
    errors.assertClean();
    await context.close();
  });

  it("fits a 375 px phone: the player scales, nothing scrolls sideways", async () => {
    const { context, page } = await open(undefined, 375);
    await page.locator("media-control-bar").waitFor();
    await checkNoHorizontalScroll(page, "watch page at 375 px");
    const box = await page.locator("media-controller").boundingBox();
    expect(box?.width).toBeLessThanOrEqual(375);
    expect(box?.width).toBeGreaterThan(300);
    await context.close();
  });

  it("likes and unlikes, subscribes, comments, replies and deletes as a viewer and the owner", async () => {
    const fan = await open(fanAuth);
    await fan.page.getByRole("button", { name: "Like 0", exact: true, pressed: false }).click();
    await fan.page.getByRole("button", { name: "Like 1", exact: true, pressed: true }).click();
    await fan.page.getByRole("button", { name: "Like 0", exact: true, pressed: false }).waitFor();

    await fan.page.getByRole("link", { name: channelName }).waitFor();
    await fan.page.getByRole("button", { name: "Subscribe", pressed: false }).click();
    await fan.page.getByRole("button", { name: "Subscribe", pressed: true }).waitFor();
    await fan.page.getByText("1 subscriber").waitFor();

    // Two comments; the second is deleted by its author.
    const field = fan.page.getByLabel("Add a comment");
    await field.fill("First from a fan");
    await fan.page.getByRole("button", { name: "Comment", exact: true }).click();
    await fan.page.getByRole("article", { name: "Comment by You" }).getByText("First from a fan").waitFor();
    await field.fill("Second thoughts");
    await fan.page.getByRole("button", { name: "Comment", exact: true }).click();
    await fan.page.getByText("Second thoughts").waitFor();
    await fan.page.getByRole("button", { name: "Delete comment by You" }).first().click();
    await fan.page.getByText("Second thoughts").waitFor({ state: "detached" });

    // The owner sees the fan's comment (no channel: "A viewer"), replies, and the fan sees the reply.
    const own = await open(ownerAuth);
    const fanComment = own.page.getByRole("article", { name: "Comment by A viewer" });
    await fanComment.getByText("First from a fan").waitFor();
    expect(await own.page.getByRole("button", { name: "Subscribe" }).count()).toBe(0);
    await fanComment.getByRole("button", { name: "Reply" }).click();
    await own.page.getByLabel("Reply to A viewer").fill("Thanks for watching");
    await own.page.getByRole("button", { name: "Reply", exact: true }).last().click();
    await own.page
      .getByRole("article", { name: "Comment by You" })
      .getByText("Thanks for watching")
      .waitFor();
    await checkA11y(own.page, "watch page (signed in, owner, with comments)");
    await screenshot(own.page, "watch");

    await fan.page.reload();
    await fan.page.getByRole("button", { name: "Show 1 reply" }).click();
    await fan.page
      .getByRole("article", { name: `Comment by ${channelName}` })
      .getByText("Thanks for watching")
      .waitFor();
    // The subscription survived the reload (the API's `viewer`).
    await fan.page.getByRole("button", { name: "Subscribe", pressed: true }).waitFor();

    // The owner deletes the fan's comment (its reply goes with it).
    await own.page.getByRole("button", { name: "Delete comment by A viewer" }).click();
    await fanComment.waitFor({ state: "detached" });
    const left = await owner.api.GET("/v1/videos/{id}/comments", { params: { path: { id: video.id } } });
    expect(left.data?.comments).toEqual([]);

    fan.errors.assertClean();
    own.errors.assertClean();
    await fan.context.close();
    await own.context.close();
  });

  it("shows a private video only to its owner, with its status while it cannot play yet", async () => {
    const created = await owner.api.POST("/v1/videos", {
      body: { title: `Private ${suffix}`, visibility: "private", upload: { size: 1000 } },
    });
    const id = created.data?.video.id ?? "";
    const stranger = await newContext(browser as Browser);
    const page = await stranger.newPage();
    await page.goto(`/watch/${id}`);
    await page.getByRole("alert").getByText("it is private").waitFor();
    await stranger.close();

    const own = await open(ownerAuth, undefined, id, `Private ${suffix}`);
    await own.page.getByRole("status").getByText("waiting for its upload").waitFor();
    await own.context.close();
  });

  it("counted the first test's playback as one view", async () => {
    await expect.poll(views, { timeout: 30_000, interval: 1000 }).toBe(1);
  });
});
