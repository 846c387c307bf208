import { createApp } from "./app.ts";

/** The Worker entry: Hono's fetch handler. */
export default createApp();
