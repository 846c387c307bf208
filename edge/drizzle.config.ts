import { defineConfig } from "drizzle-kit";

// Paths are relative to the repo root, where npm scripts run drizzle-kit.
export default defineConfig({
  dialect: "postgresql",
  schema: "./edge/src/db/schema.ts",
  out: "./edge/migrations",
});
