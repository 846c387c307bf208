/**
 * Builds the web app (web/ → web/dist) before `wrangler dev` starts: wrangler.toml serves that folder as
 * the Worker's static assets and refuses to start without it, and every stack (npm run dev, npm run demo,
 * the integration tests) should serve the app as it is in the working tree.
 */
import path from "node:path";
import { build } from "vite";

const ROOT = path.resolve(import.meta.dirname, "../..");

export async function buildWeb(log?: (line: string) => void): Promise<void> {
  const started = Date.now();
  await build({
    configFile: path.join(ROOT, "web", "vite.config.ts"),
    logLevel: "warn",
    // No sourcemaps or size report for a local stack: a faster build, same code.
    build: { sourcemap: false, reportCompressedSize: false },
  });
  log?.(`web app built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
