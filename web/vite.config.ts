/**
 * The web app (Preact, TypeScript), built into web/dist, which the edge Worker serves as static assets
 * (wrangler.toml [assets]: the API stays under /v1, every other path without a file gets index.html).
 * `vite` alone (npm run dev:web) serves the app with hot reload and proxies the API to a running
 * `npm run dev` edge (EDGE_URL, default http://127.0.0.1:8787).
 */
import { defineConfig } from "vite";

const edge = process.env.EDGE_URL ?? "http://127.0.0.1:8787";

export default defineConfig({
  root: import.meta.dirname,
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // dist/.vite/manifest.json: which chunks the entry loads up front (the size budget test reads it).
    manifest: true,
    target: "es2022",
    sourcemap: true,
  },
  server: {
    proxy: {
      "/v1": { target: edge, ws: true, changeOrigin: false },
      "/healthz": edge,
    },
  },
});
