import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdir, rm, writeFile } from "node:fs/promises";
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

  it("serves the /queues dashboard's page and static files from the bundled build (@bull-board/ui in node_modules)", async () => {
    await mkdir(outDir, { recursive: true });
    // The ops server and the dashboard as main.ts wires them, bundled by the same script; no Redis is
    // needed for the page and its files (the queues' connection retries in the background meanwhile).
    const entry = join(outDir, "dashboard-entry.ts");
    const src = join(root, "transcoder/src");
    await writeFile(
      entry,
      `import { createDashboard } from ${JSON.stringify(join(src, "dashboard.ts"))};
import { startOpsServer } from ${JSON.stringify(join(src, "ops-server.ts"))};
const dashboard = createDashboard({
  redisUrl: "redis://127.0.0.1:1",
  token: process.env.OPS_DASHBOARD_TOKEN,
  queueNames: ["transcode", "transcode-chunks"],
});
const ops = await startOpsServer({
  port: 0,
  host: "127.0.0.1",
  metrics: { render: async () => "" },
  health: () => ({ status: "ok", encoder: null, jobsInProgress: 0 }),
  dashboard,
});
process.stdout.write(ops.url + "\\n");
`,
    );
    const out = join(outDir, "dashboard.mjs");
    await run("bash", [join(root, "transcoder/bundle.sh"), out, entry], { cwd: root });
    const token = "bundle-test-token-0123456789";
    const child = spawn(process.execPath, ["--enable-source-maps", out], {
      cwd: outDir,
      env: { PATH: process.env.PATH ?? "", OPS_DASHBOARD_TOKEN: token },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d) => {
      stderr += d.toString();
    });
    try {
      const [first] = (await Promise.race([
        once(child.stdout, "data"),
        once(child, "exit").then(() => {
          throw new Error(`the bundled dashboard exited: ${stderr}`);
        }),
      ])) as [Buffer];
      const url = first.toString().trim();
      const headers = { authorization: `Bearer ${token}` };
      expect((await fetch(`${url}/queues`)).status).toBe(401);
      const page = await fetch(`${url}/queues`, { headers });
      expect(page.status).toBe(200);
      const html = await page.text();
      const script = /src="(static\/js\/main\.[^"]+\.js)"/.exec(html)?.[1];
      expect(script).toBeDefined();
      const js = await fetch(`${url}/queues/${script}`, { headers });
      expect(js.status).toBe(200);
      expect(js.headers.get("content-type")).toMatch(/javascript/);
      const logo = await fetch(`${url}/queues/static/images/logo.svg`, { headers });
      expect(logo.status).toBe(200);
      expect(stderr).not.toMatch(/ERR_MODULE_NOT_FOUND|Cannot find|not found/);
    } finally {
      child.kill("SIGKILL");
    }
  }, 60_000);
});
