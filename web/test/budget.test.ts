/**
 * The initial JavaScript budget (issue 13): what a first visit downloads before the app can render, i.e.
 * the entry chunk and every chunk it imports statically, at most 150 KB gzipped. The player, Uppy and
 * zod come with the pages that need them (lazy routes), never with the entry. Built here with the
 * production config, so the figure is what a deploy serves.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { build, type Rolldown } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const BUDGET_BYTES = 150 * 1000;
const ROOT = path.resolve(import.meta.dirname, "../..");

type Chunk = Rolldown.OutputChunk;
let chunks: Chunk[] = [];
let dir = "";

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "streamlet-web-budget-"));
  const output = await build({
    configFile: path.join(ROOT, "web", "vite.config.ts"),
    logLevel: "silent",
    build: { outDir: dir, emptyOutDir: true, sourcemap: false, reportCompressedSize: false },
  });
  const outputs = (Array.isArray(output) ? output : [output]) as Rolldown.RolldownOutput[];
  chunks = outputs.flatMap((o) => o.output.filter((item): item is Chunk => item.type === "chunk"));
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The entry and everything it imports statically (what the browser fetches before running the app). */
function initialChunks(): Chunk[] {
  const byName = new Map(chunks.map((c) => [c.fileName, c]));
  const entry = chunks.find((c) => c.isEntry);
  if (!entry) throw new Error("no entry chunk in the build");
  const seen = new Map<string, Chunk>();
  const visit = (chunk: Chunk) => {
    if (seen.has(chunk.fileName)) return;
    seen.set(chunk.fileName, chunk);
    for (const name of chunk.imports) {
      const next = byName.get(name);
      if (next) visit(next);
    }
  };
  visit(entry);
  return [...seen.values()];
}

describe("the web app's initial JavaScript", () => {
  it("is at most 150 KB gzipped", () => {
    const initial = initialChunks();
    const sizes = initial.map((c) => ({ file: c.fileName, gzip: gzipSync(c.code, { level: 9 }).length }));
    const total = sizes.reduce((sum, s) => sum + s.gzip, 0);
    console.log(`initial JS: ${(total / 1000).toFixed(1)} KB gzipped in ${sizes.length} chunk(s)`);
    expect(total, JSON.stringify(sizes)).toBeLessThanOrEqual(BUDGET_BYTES);
  });

  it("leaves the player, Uppy and zod to the pages that use them", () => {
    const modules = initialChunks().flatMap((c) => c.moduleIds);
    const heavy = modules.filter((id) =>
      /node_modules\/(media-chrome|hls-video-element|hls\.js|@uppy|zod)\//.test(id),
    );
    expect(heavy).toEqual([]);
    // ... and the lazy pages are really separate chunks the entry imports dynamically.
    const lazyPages = chunks.filter((c) => !c.isEntry && c.facadeModuleId?.includes("/web/src/pages/"));
    expect(lazyPages.map((c) => path.basename(c.facadeModuleId ?? ""))).toEqual(
      expect.arrayContaining(["watch.tsx", "upload.tsx"]),
    );
  });
});
