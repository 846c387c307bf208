/**
 * Builds the web app (web/) for a stack's `wrangler dev`, which serves it as the Worker's static assets
 * (wrangler.toml [assets]). Each stack builds into its own folder and passes it with --assets, so every
 * stack (npm run dev, npm run demo, a test run) serves the app as it is in the working tree, and two
 * stacks never delete each other's files; wrangler.toml's own web/dist is for deploys (npm run build:web).
 */
import path from "node:path";
import { build } from "vite";

const ROOT = path.resolve(import.meta.dirname, "../..");

export async function buildWeb(outDir: string, log?: (line: string) => void): Promise<void> {
  const started = Date.now();
  await build({
    configFile: path.join(ROOT, "web", "vite.config.ts"),
    logLevel: "warn",
    // No sourcemaps or size report for a local stack: a faster build, the same code.
    build: { outDir, emptyOutDir: true, sourcemap: false, reportCompressedSize: false },
  });
  log?.(`web app built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
