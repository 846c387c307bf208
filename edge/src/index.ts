import { createApp } from "./app.ts";

export { VideoProgress } from "./progress/video-progress.ts";

/** The Worker entry: Hono's fetch handler (the VideoProgress Durable Object class is exported beside it). */
export default createApp();
