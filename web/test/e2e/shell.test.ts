import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  checkA11y,
  checkNoHorizontalScroll,
  edge,
  launch,
  newContext,
  noChromium,
  screenshot,
  signUp,
  watchErrors,
} from "./browser.ts";

let browser: Browser | undefined;
beforeAll(async () => {
  if (!noChromium) browser = await launch();
});
afterAll(async () => {
  await browser?.close();
});

describe("the web app served by the edge", () => {
  it("serves the app at / and for app routes, and keeps the API's own answers under /v1", async () => {
    const home = await fetch(`${edge}/`);
    expect(home.status).toBe(200);
    expect(home.headers.get("content-type")).toMatch(/text\/html/);
    const html = await home.text();
    expect(html).toContain('<div id="app">');
    // Scripts from this origin only, and never framed (web/public/_headers).
    expect(home.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(home.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    // A deep link into the app gets the same page (the router takes it from there).
    const deep = await fetch(`${edge}/watch/0190a8c4-6c1d-7000-8000-000000000000`);
    expect(deep.status).toBe(200);
    expect(await deep.text()).toBe(html);
    // Hashed assets are cached for a year.
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const asset = await fetch(`${edge}${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get("cache-control")).toContain("immutable");
    // The API is never the app: an unknown /v1 route is the edge's JSON 404.
    const api = await fetch(`${edge}/v1/no-such-route`);
    expect(api.status).toBe(404);
    expect(await api.json()).toMatchObject({ error: { code: "not_found" } });
    expect((await fetch(`${edge}/healthz`)).status).toBe(200);
  });

  it.skipIf(noChromium)("signs up, stays signed in across a reload, and signs out", async () => {
    const context = await newContext(browser as Browser);
    const page = await context.newPage();
    const errors = watchErrors(page);
    await page.goto("/");
    await page.getByRole("heading", { name: "Latest videos" }).waitFor();
    await checkA11y(page, "home (signed out)");
    await screenshot(page, "home");

    await page.goto("/signin");
    await checkA11y(page, "sign in");
    await page.getByLabel("Email").fill("nobody@example.com");
    await page.getByLabel("Password", { exact: true }).fill("not-the-password");
    await page.getByRole("button", { name: "Sign in" }).click();
    // The API's error, said as what it means.
    await page.getByRole("alert").getByText("do not match an account").waitFor();

    await page.goto("/signup");
    await checkA11y(page, "sign up");
    await signUp(page, "shell");
    await checkA11y(page, "home (signed in)");
    await page.reload();
    await page.getByRole("button", { name: "Sign out" }).waitFor();
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("link", { name: "Sign in" }).waitFor();
    expect(await page.evaluate(() => localStorage.getItem("streamlet.session"))).toBeNull();
    // The wrong password's 401 is logged by Chromium, and so are posters missing from other suites'
    // fixture videos (rows made ready in the database, with no files) on the home page; nothing else.
    errors.assertClean([
      /status of 401 .*\/v1\/auth\/login$/,
      /status of 404 .*\/v1\/play\/[^/]+\/poster\.jpg$/,
    ]);
    await context.close();
  });

  it.skipIf(noChromium)(
    "is usable at 375 px: no sideways scrolling, the menu opens from a button",
    async () => {
      const context = await newContext(browser as Browser, 375);
      const page = await context.newPage();
      await page.goto("/");
      await page.getByRole("heading", { name: "Latest videos" }).waitFor();
      await checkNoHorizontalScroll(page, "home at 375 px");
      const menu = page.getByRole("button", { name: "Menu" });
      expect(await menu.getAttribute("aria-expanded")).toBe("false");
      await menu.focus();
      await page.keyboard.press("Enter");
      await page.getByRole("link", { name: "Sign up" }).waitFor();
      await checkA11y(page, "home at 375 px with the menu open");
      await context.close();
    },
  );
});
