import { execFile } from "node:child_process";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const root = join(import.meta.dirname, "../..");
// Inside the repository's node_modules, so the bundle's external packages resolve the way they do from
// the image's /app/dist (one folder below the node_modules that holds them). What this cannot see: a
// package the code uses but transcoder/package.json does not declare, which resolves here (hoisted by
// another workspace) and would be missing from the image's `npm ci --omit=dev -w transcoder -w shared`.
const outDir = join(root, "node_modules/.cache/streamlet-transcoder-bundle");

describe("the image's bundle (transcoder/bundle.sh, as transcoder/Dockerfile builds it)", () => {
  afterAll(() => rm(outDir, { recursive: true, force: true }));

  it("builds, loads every module on plain Node without a TypeScript loader, and reaches config parsing", async () => {
    await mkdir(outDir, { recursive: true });
    const out = join(outDir, "transcoder.mjs");
    await run("bash", [join(root, "transcoder/bundle.sh"), out], { cwd: root });
    // No configuration at all: a node that loaded must refuse with the config error, not a module error.
    const started = await run(process.execPath, ["--enable-source-maps", out], {
      cwd: outDir,
      env: { PATH: process.env.PATH ?? "" },
      timeout: 20_000,
    }).then(
      () => ({ code: 0, stderr: "" }),
      (err: { code?: number; stderr?: string }) => ({ code: err.code, stderr: err.stderr ?? "" }),
    );
    expect(started.code).toBe(1);
    expect(started.stderr).toMatch(/REDIS_URL/);
    expect(started.stderr).not.toMatch(/ERR_MODULE_NOT_FOUND|Cannot find (module|package)|SyntaxError/);
  }, 60_000);
});
