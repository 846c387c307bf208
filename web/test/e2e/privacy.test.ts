import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { AuthTokens } from "@streamlet/shared";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient, waitForTerminal } from "../../../scripts/stack/client.ts";
import { makeClip } from "../../../scripts/stack/clip.ts";
import { edge, launch, noChromium, signedInContext, watchErrors } from "./browser.ts";

// A private video is seen by its owner only: not by search, not on its channel's page, not in a
// subscriber's feed, not at its own address, for another user in the browser as through the API. The video
// is first found everywhere while public, so its absence afterwards means something.
const suffix = crypto.randomUUID().replaceAll("-", "").slice(0, 10);
const handle = `priv_${suffix}`;
const title = `Private clip ${suffix}`;
const owner = apiClient(edge);
const viewer = apiClient(edge);
const anonymous = apiClient(edge);
let viewerAuth: AuthTokens;
let videoId = "";
let dir = "";
let browser: Browser | undefined;

type Client = ReturnType<typeof apiClient>;
type Listing = Promise<{ data?: { videos: { id: string }[] }; response: Response }>;

/** The ids of a listing's first page (it must answer 200). */
async function ids(request: Listing): Promise<string[]> {
  const { data, response } = await request;
  expect(response.status).toBe(200);
  return (data?.videos ?? []).map((video) => video.id);
}

/** Every list the video could show up in, as `client` sees them. */
async function listings(client: Client, withFeed: boolean) {
  const lists = [
    ids(client.api.GET("/v1/videos", { params: { query: { q: title } } })),
    ids(client.api.GET("/v1/channels/{handle}/videos", { params: { path: { handle } } })),
    ...(withFeed ? [ids(client.api.GET("/v1/me/feed"))] : []),
  ];
  return (await Promise.all(lists)).map((list) => list.includes(videoId));
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "streamlet-privacy-"));
  const clip = makeClip(path.join(dir, "clip.mp4"), { seconds: 2, width: 320, height: 240 });
  [viewerAuth] = await Promise.all([
    viewer.signup(`viewer-${suffix}@example.com`, "a long enough password"),
    owner.signup(`owner-${suffix}@example.com`, "a long enough password"),
    noChromium ? undefined : launch().then((b) => (browser = b)),
  ]);
  expect(
    (await owner.api.POST("/v1/channels", { body: { handle, name: "Private things" } })).response.status,
  ).toBe(201);
  const subscribed = await viewer.api.PUT("/v1/channels/{handle}/subscription", {
    params: { path: { handle } },
  });
  expect(subscribed.response.status).toBe(200);
  const created = await owner.createVideo(title, await clip);
  videoId = created.video.id;
  await owner.upload(created, await clip);
  await owner.markUploaded(videoId);
  expect((await waitForTerminal(owner, videoId, { timeoutMs: 60_000 })).status).toBe("ready");
  // Public: search, the channel page and the subscriber's feed all have it.
  expect(await listings(viewer, true)).toEqual([true, true, true]);
  const patched = await owner.api.PATCH("/v1/videos/{id}", {
    params: { path: { id: videoId } },
    body: { visibility: "private" },
  });
  expect(patched.data?.visibility).toBe("private");
});
afterAll(async () => {
  await browser?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("a private video", () => {
  it("is a 404 and listed nowhere for anyone but its owner, through the API", async () => {
    expect((await owner.getVideo(videoId)).visibility).toBe("private");
    for (const client of [viewer, anonymous]) {
      const { response } = await client.api.GET("/v1/videos/{id}", { params: { path: { id: videoId } } });
      expect(response.status).toBe(404);
    }
    expect(await listings(viewer, true)).toEqual([false, false, false]);
    expect(await listings(anonymous, false)).toEqual([false, false]);
  });

  it.skipIf(noChromium)("cannot be found by another user in the browser", async () => {
    const context = await signedInContext(browser as Browser, viewerAuth);
    const page = await context.newPage();
    const errors = watchErrors(page);
    // A card would be a link to the video named by its title (the search page's heading repeats the query).
    const cardShown = () => page.getByRole("link", { name: title }).count();

    await page.goto(`/?q=${encodeURIComponent(title)}`);
    await page.getByText("No public video matches that search.").waitFor();
    expect(await cardShown()).toBe(0);

    await page.goto(`/c/${handle}`);
    await page.getByText("This channel has no public videos yet.").waitFor();
    expect(await cardShown()).toBe(0);

    await page.goto("/subscriptions");
    await page.getByRole("link", { name: "Private things" }).waitFor();
    await page.getByText("No videos from your subscriptions yet.").waitFor();
    expect(await cardShown()).toBe(0);

    await page.goto(`/watch/${videoId}`);
    await page
      .getByRole("alert")
      .getByText(/not found/i)
      .waitFor();
    expect(await page.getByText(title).count()).toBe(0);
    expect(await page.title()).not.toContain(title);
    // The watch page's 404s (the video, its view count) are logged by Chromium; nothing else may be.
    errors.assertClean([/status of 404/]);
    await context.close();
  });
});
