/**
 * The web app (web/) as a stack's `wrangler dev` serves it (wrangler dev --assets <folder>; the Worker's
 * static assets, wrangler.toml [assets]). Built from the working tree into a folder named by a hash of
 * its sources, under node_modules/.cache: a stack started again with the same sources (npm run dev after
 * a restart, the tests that start several stacks) reuses it instead of building again, and two stacks
 * never delete each other's files (a build lands in a new folder, renamed into place when complete).
 * wrangler.toml's own web/dist is for deploys (npm run build:web).
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { build } from "vite";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CACHE = path.join(ROOT, "node_modules", ".cache", "streamlet-web");
/** What the build reads: the app, the shared code it imports, the locked dependency versions. */
const INPUTS = [
  "web/src",
  "web/public",
  "web/index.html",
  "web/vite.config.ts",
  "shared/src",
  "package-lock.json",
];
/** Builds not used for this long are removed when another is made. */
const KEEP_MS = 24 * 3600 * 1000;

function sourceHash(): string {
  const hash = createHash("sha256");
  const add = (rel: string) => {
    const abs = path.join(ROOT, rel);
    if (!existsSync(abs)) return;
    if (statSync(abs).isDirectory()) {
      for (const name of readdirSync(abs).sort()) add(path.join(rel, name));
      return;
    }
    hash.update(`${rel}\0`).update(readFileSync(abs)).update("\0");
  };
  for (const input of INPUTS) add(input);
  return hash.digest("hex").slice(0, 16);
}

/** The folder holding the app built from the current sources (built now if no stack built it before). */
export async function builtWeb(log?: (line: string) => void): Promise<string> {
  const dir = path.join(CACHE, sourceHash());
  if (existsSync(path.join(dir, "index.html"))) return dir;
  const started = Date.now();
  const partial = `${dir}.partial-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    await build({
      configFile: path.join(ROOT, "web", "vite.config.ts"),
      logLevel: "warn",
      // No sourcemaps or size report for a local stack: a faster build, the same code.
      build: { outDir: partial, emptyOutDir: true, sourcemap: false, reportCompressedSize: false },
    });
    try {
      renameSync(partial, dir);
    } catch (error) {
      // Another stack finished the same build first: use theirs.
      if (!existsSync(path.join(dir, "index.html"))) throw error;
    }
  } finally {
    rmSync(partial, { recursive: true, force: true });
  }
  log?.(`web app built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  pruneOldBuilds(dir);
  return dir;
}

function pruneOldBuilds(keep: string) {
  for (const name of readdirSync(CACHE)) {
    const entry = path.join(CACHE, name);
    if (entry === keep) continue;
    try {
      if (Date.now() - statSync(entry).mtimeMs > KEEP_MS) rmSync(entry, { recursive: true, force: true });
    } catch {
      // Gone already (another stack pruned it).
    }
  }
}
