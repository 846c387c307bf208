import { fileURLToPath } from "node:url";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig, type Plugin } from "vitest/config";

/**
 * Vitest 5 imports a project's globalSetup files through that project's Vite server (its "__vitest__"
 * environment), which inherits the Workers resolve conditions cloudflareTest() sets ("workerd", "worker",
 * "browser"; no "node"). The workers project's global setup runs in Node (Postgres, the Neon bridge), so
 * the packages it needs resolve to their Node builds there: `ws` would otherwise be its browser stub.
 */
function nodeBuildsForGlobalSetup(packages: string[]): Plugin {
  return {
    name: "streamlet:node-builds-for-global-setup",
    enforce: "pre",
    resolveId(id) {
      if (this.environment.name === "__vitest__" && packages.includes(id)) {
        return fileURLToPath(import.meta.resolve(id));
      }
    },
  };
}

export default defineConfig({
  test: {
    // Two files at a time for the unit and workers projects. The integration project (one file at a time,
    // fileParallelism: false below) runs after them: Vitest 5 gives a one-worker project a group of its
    // own, last. Running it beside them instead (a second Vitest process) was measured slower in CI (tests
    // 1203 s against 1072 s): the integration files keep both cores busy themselves (the stack's
    // transcoder, Chromium, workerd).
    maxWorkers: 2,
    projects: [
      {
        test: {
          name: "unit",
          // One module graph per worker, reused from file to file: no unit test mocks a module, stubs a
          // global or changes process.env, so nothing leaks between files, and the suite skips a fresh
          // import of its dependencies for every one of its ~110 files (CI: ~10% of the unit time).
          isolate: false,
          include: [
            "{shared,edge,transcoder,scripts}/test/*.test.ts",
            "transcoder/test/chunks/*.test.ts",
            "transcoder/test/chunked/*.test.ts",
            "transcoder/test/import/*.test.ts",
            "web/test/*.test.ts",
          ],
          environment: "node",
        },
      },
      {
        test: {
          name: "integration",
          // web/test/e2e: the web app in Chromium, served by the stack's edge (built when the stack starts).
          include: ["{edge,transcoder,scripts}/test/integration/**/*.test.ts", "web/test/e2e/**/*.test.ts"],
          environment: "node",
          globalSetup: ["scripts/stack/vitest-global-setup.ts"],
          // One stack serves every file; files run one after another on a 2-core machine.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
      {
        // The edge Worker and its VideoProgress Durable Object inside workerd (the real runtime), reached
        // through the Worker's own fetch, against a throwaway Postgres the global setup starts.
        plugins: [
          nodeBuildsForGlobalSetup(["ws"]),
          cloudflareTest(({ inject }) => ({
            main: "./edge/src/index.ts",
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: { bindings: inject("workersEnv") },
          })),
        ],
        test: {
          name: "workers",
          include: ["edge/test/workers/*.test.ts"],
          globalSetup: ["edge/test/integration/workers-global-setup.ts"],
          testTimeout: 30_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
