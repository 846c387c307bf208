import { createApp } from "./app.ts";

export { ViewCounter } from "./engagement/view-counter.ts";
export { VideoProgress } from "./progress/video-progress.ts";
export { RateLimiter } from "./rate-limit/rate-limiter.ts";

/** The Worker entry: Hono's fetch handler (the Durable Object classes are exported beside it). */
export default createApp();
