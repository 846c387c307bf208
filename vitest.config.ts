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
    ],
  },
});
