import { createApp } from "./app.ts";
import { loadConfig } from "./config.ts";
import { createDb } from "./db/client.ts";
import { cleanUpStaleUploads } from "./videos/cleanup.ts";

export { ViewCounter } from "./engagement/view-counter.ts";
export { OriginShield } from "./play/origin-shield.ts";
export { VideoProgress } from "./progress/video-progress.ts";
export { RateLimiter } from "./rate-limit/rate-limiter.ts";

const app = createApp();

/**
 * The Worker entry: Hono's fetch handler, and the Cron Trigger (wrangler.toml [triggers]) that cleans up
 * uploads never finished (videos/cleanup.ts). The Durable Object classes are exported beside it.
 */
export default {
  fetch: app.fetch,
  async scheduled(controller, env, ctx) {
    const config = loadConfig(env);
    const { db, end } = createDb(config);
    try {
      await cleanUpStaleUploads(
        { config, db, env, waitUntil: (promise) => ctx.waitUntil(promise) },
        new Date(controller.scheduledTime),
      );
    } finally {
      ctx.waitUntil(end());
    }
  },
} satisfies ExportedHandler<Env>;
