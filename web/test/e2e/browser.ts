/**
 * What the web app's end-to-end tests share: Debian's Chromium driven by playwright-core, pages on the
 * integration stack's edge (which serves the built app), axe-core checks, screenshots for the README.
 */
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import AxeBuilder from "@axe-core/playwright";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { expect, inject } from "vitest";
import { STORAGE_KEY } from "../../src/lib/session.ts";

export const edge = inject("edgeUrl");
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
/** Chromium is installed by .ci/run (and scripts/install-system-deps.sh); without it these tests skip. */
export const noChromium = !existsSync(CHROMIUM);
const SCREENSHOTS = path.resolve(import.meta.dirname, "../../../docs/screenshots");

export async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    // Plays media without a user gesture (the tests click play anyway) and without a sound card.
    args: ["--autoplay-policy=no-user-gesture-required", "--mute-audio"],
  });
}

/** A fresh browser profile (its own localStorage) at a desktop or a phone width. */
export async function newContext(browser: Browser, width = 1280): Promise<BrowserContext> {
  return browser.newContext({
    baseURL: edge,
    viewport: { width, height: width < 500 ? 800 : 900 },
    ...(width < 500 ? { isMobile: true, hasTouch: true, deviceScaleFactor: 2 } : {}),
  });
}

/** Collects uncaught page errors and console errors; `assertClean` fails the test when there were any. */
export function watchErrors(page: Page) {
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(`pageerror: ${error.message}`));
  page.on("console", (message) => {
    // With the URL: "Failed to load resource" alone does not say which.
    if (message.type() === "error") errors.push(`console: ${message.text()} ${message.location().url}`);
  });
  return {
    errors,
    assertClean(allow: RegExp[] = []) {
      expect(errors.filter((e) => !allow.some((re) => re.test(e)))).toEqual([]);
    },
  };
}

/**
 * axe-core on the page as it is now: no serious or critical violation (WCAG 2.x A/AA and best practices).
 * The failure lists each rule with the elements it found, so it says what to fix.
 */
export async function checkA11y(page: Page, what: string) {
  const results = await new AxeBuilder({ page })
    .withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"])
    .analyze();
  const serious = results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  expect(serious, `axe-core on ${what}`).toEqual([]);
}

/**
 * The page is usable at its width: nothing makes the document scroll sideways (a 375 px phone, say).
 */
export async function checkNoHorizontalScroll(page: Page, what: string) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow, `${what} is wider than the viewport`).toBeLessThanOrEqual(1);
}

/** Saves docs/screenshots/<name>.png when UPDATE_SCREENSHOTS=1 (npm run screenshots); otherwise nothing. */
export async function screenshot(page: Page, name: string) {
  if (process.env.UPDATE_SCREENSHOTS !== "1") return;
  mkdirSync(SCREENSHOTS, { recursive: true });
  // The top of the page, as someone arriving on it sees it.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`) });
}

/**
 * A browser profile already signed in with these tokens, stored as the app stores a sign-in
 * (web/src/lib/session.ts), so a test need not log in through the form: logins are rate-limited per
 * address (20 per 15 min) across the whole suite, sign-ups are not in the test stack.
 */
export async function signedInContext(
  browser: Browser,
  auth: { user: { id: string; email: string }; accessToken: string; refreshToken: string; expiresIn: number },
  width?: number,
): Promise<BrowserContext> {
  const context = await newContext(browser, width);
  const stored = {
    user: auth.user,
    accessToken: auth.accessToken,
    accessExpiresAt: Date.now() + auth.expiresIn * 1000,
    refreshToken: auth.refreshToken,
  };
  await context.addInitScript(
    ([key, value]) => {
      if (!localStorage.getItem(key)) localStorage.setItem(key, value);
    },
    [STORAGE_KEY, JSON.stringify(stored)] as const,
  );
  return context;
}

let accounts = 0;

/** Signs up a new account through the app's form; resolves once the app shows it signed in. */
export async function signUp(page: Page, label = "web"): Promise<{ email: string; password: string }> {
  const email = `${label}-${Date.now()}-${accounts++}-${Math.random().toString(36).slice(2, 8)}@example.com`;
  const password = `pw-${crypto.randomUUID()}`;
  await page.goto("/signup");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Sign up" }).click();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
  return { email, password };
}
