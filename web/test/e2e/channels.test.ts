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

// Channels in the browser: creating one through the form (the API's field errors beside the field),
// editing it, and a second user subscribing from its page and finding it, and its video, on
// /subscriptions. One tiny clip is transcoded while the forms are filled in.
const suffix = crypto.randomUUID().replaceAll("-", "").slice(0, 10);
const handle = `ch_${suffix}`;
const title = `Channel clip ${suffix}`;
let dir = "";
let browser: Browser | undefined;
let owner: ReturnType<typeof apiClient>;
let ownerAuth: AuthTokens;
let ready: Promise<Video>;

beforeAll(async () => {
  if (noChromium) return;
  dir = mkdtempSync(path.join(os.tmpdir(), "streamlet-channels-"));
  const clip = makeClip(path.join(dir, "clip.mp4"), { seconds: 2, width: 320, height: 240 });
  owner = apiClient(edge);
  [ownerAuth, browser] = await Promise.all([
    owner.signup(`owner-${suffix}@example.com`, "a long enough password"),
    launch(),
    clip,
  ]);
  const created = await owner.createVideo(title, await clip);
  await owner.upload(created, await clip);
  await owner.markUploaded(created.video.id);
  // Awaited by the test that needs it; a failure before then is reported there, not as unhandled.
  ready = waitForTerminal(owner, created.video.id, { timeoutMs: 60_000 });
  ready.catch(() => {});
});
afterAll(async () => {
  await browser?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function signedIn(auth: AuthTokens, width?: number): Promise<{ context: BrowserContext; page: Page }> {
  const context = await signedInContext(browser as Browser, auth, width);
  return { context, page: await context.newPage() };
}

describe.skipIf(noChromium)("channels in the web app", () => {
  it("creates a channel through the form (the API's errors beside the field) and edits it", async () => {
    const { context, page } = await signedIn(ownerAuth);
    const errors = watchErrors(page);
    await page.goto("/me/channel");
    await page.getByRole("heading", { name: "Create your channel" }).waitFor();

    const handleField = page.getByLabel("Handle");
    await handleField.fill("Not a handle!");
    await page.getByLabel("Name").fill("Cooking daily");
    await page.getByRole("button", { name: "Create channel" }).click();
    await page.getByText("Handle must be 3-30 letters, digits or underscores.").waitFor();
    // The field says it is wrong, says why, and has the focus.
    expect(await handleField.getAttribute("aria-invalid")).toBe("true");
    expect(await handleField.evaluate((el) => el === document.activeElement)).toBe(true);
    // axe-core on the form as it is at its most complex: an error beside a field.
    await checkA11y(page, "create your channel, with an error");

    await handleField.fill(handle);
    await page.getByRole("button", { name: "Create channel" }).click();
    await page.getByRole("heading", { name: "My channel" }).waitFor();
    await page.getByText(`Your channel @${handle} is ready.`).waitFor();
    await checkA11y(page, "my channel");

    await page.getByLabel("Description").fill("Quick dinners, filmed in one take.");
    await page.getByRole("button", { name: "Save changes" }).click();
    await page.getByRole("status").getByText("Saved.").waitFor();

    await page.getByRole("link", { name: "View your channel" }).click();
    await page.getByRole("heading", { name: "Cooking daily" }).waitFor();
    await page.getByText("Quick dinners, filmed in one take.").waitFor();
    await page.getByRole("link", { name: "Edit channel" }).waitFor();
    expect(await page.getByRole("button", { name: "Subscribe" }).count()).toBe(0);
    // The invalid handle's 400 is logged by Chromium; nothing else may be.
    errors.assertClean([/status of 400/]);
    await context.close();
  });

  it("lets a second user subscribe from the channel page and find it on /subscriptions", async () => {
    const viewer = apiClient(edge);
    const viewerAuth = await viewer.signup(`viewer-${suffix}@example.com`, "a long enough password");
    expect((await ready).status).toBe("ready");
    const { context, page } = await signedIn(viewerAuth);
    const errors = watchErrors(page);
    await page.goto(`/c/${handle}`);
    await page.getByRole("heading", { name: "Cooking daily" }).waitFor();
    await page.getByRole("link", { name: title }).waitFor();
    await page.getByText("0 subscribers").waitFor();
    await checkA11y(page, "channel page");

    await page.getByRole("button", { name: "Subscribe" }).click();
    await page.getByRole("button", { name: "Unsubscribe" }).waitFor();
    await page.getByText("1 subscriber", { exact: true }).waitFor();
    await screenshot(page, "channel");

    await page.getByRole("link", { name: "Subscriptions" }).click();
    await page.getByRole("heading", { name: "Subscriptions" }).waitFor();
    await page.getByRole("list", { name: "Channels" }).getByRole("link", { name: "Cooking daily" }).waitFor();
    const feed = page.getByRole("region", { name: "Newest videos from your subscriptions" });
    await feed.getByRole("link", { name: title }).waitFor();
    // The card names the video's channel.
    await feed.getByRole("link", { name: "Cooking daily" }).waitFor();
    await checkA11y(page, "subscriptions");

    await page.goto(`/c/${handle}`);
    await page.getByRole("button", { name: "Unsubscribe" }).click();
    await page.getByRole("button", { name: "Subscribe" }).waitFor();
    await page.getByText("0 subscribers").waitFor();
    errors.assertClean();
    await context.close();
  });

  it("shows the channel signed out at 375 px: a sign-in link instead of the button, no sideways scrolling", async () => {
    const context = await newContext(browser as Browser, 375);
    const page = await context.newPage();
    await page.goto(`/c/${handle}`);
    await page.getByRole("link", { name: title }).waitFor();
    const signIn = page.getByRole("link", { name: "Sign in to subscribe" });
    expect(await signIn.getAttribute("href")).toBe(`/signin?next=${encodeURIComponent(`/c/${handle}`)}`);
    await checkNoHorizontalScroll(page, "channel page at 375 px");
    await context.close();
  });
});
