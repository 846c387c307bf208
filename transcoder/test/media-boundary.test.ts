import { readdir, readFile } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const SRC = join(import.meta.dirname, "..", "src");

async function sources(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith(".ts")).map((e) => join(e.parentPath, e.name));
}

/** Every module specifier a file imports or re-exports. */
async function importsOf(file: string): Promise<string[]> {
  const text = await readFile(file, "utf8");
  return [...text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+"([^"]+)"/gms)].map((m) => m[1] as string);
}

describe("the media core stays apart from the node's lifecycle", () => {
  it("media/ imports only itself, node: built-ins, zod and @streamlet/shared", async () => {
    const files = await sources(join(SRC, "media"));
    expect(files.length).toBeGreaterThan(10);
    for (const file of files) {
      for (const spec of await importsOf(file)) {
        const local = spec.startsWith("./") || spec.startsWith("../");
        const allowed =
          (local && !relative(join(SRC, "media"), resolve(dirname(file), spec)).startsWith("..")) ||
          spec.startsWith("node:") ||
          spec === "zod" ||
          spec === "@streamlet/shared";
        expect(allowed, `${relative(SRC, file)} imports ${spec}`).toBe(true);
      }
    }
  });

  it("the node side reaches the media core only through its entry point", async () => {
    const files = (await sources(SRC)).filter((f) => !relative(SRC, f).startsWith("media"));
    for (const file of files) {
      for (const spec of await importsOf(file)) {
        if (!spec.includes("media/")) continue;
        expect(resolve(dirname(file), spec), relative(SRC, file)).toBe(join(SRC, "media", "index.ts"));
      }
    }
  });

  it("one module starts processes (ffmpeg and ffprobe): media/run-ffmpeg.ts", async () => {
    const spawning: string[] = [];
    for (const file of await sources(SRC)) {
      if ((await importsOf(file)).includes("node:child_process")) spawning.push(relative(SRC, file));
    }
    expect(spawning).toEqual([join("media", "run-ffmpeg.ts")]);
  });
});
