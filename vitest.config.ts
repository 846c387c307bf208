import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["{shared,edge,transcoder,scripts}/test/*.test.ts"],
          environment: "node",
        },
      },
      {
        test: {
          name: "integration",
          include: ["{edge,transcoder}/test/integration/**/*.test.ts"],
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
