/**
 * Standalone Neon WebSocket proxy for docker-compose: lets the edge's Neon driver reach the compose Postgres.
 * NEON_PROXY_PORT (default 8080) and NEON_PROXY_ALLOW ("host:port", comma separated) configure it.
 */
import { startNeonBridge } from "./stack/neon-ws-bridge.ts";

const port = Number(process.env.NEON_PROXY_PORT ?? 8080);
const allowed = (process.env.NEON_PROXY_ALLOW ?? "postgres:5432").split(",").map((s) => s.trim());
const bridge = startNeonBridge({ port, host: "0.0.0.0", allowed });
await bridge.ready;
console.log(JSON.stringify({ msg: "neon websocket proxy listening", port, allowed }));
for (const signal of ["SIGINT", "SIGTERM"] as const)
  process.on(signal, () => bridge.stop().then(() => process.exit(0)));
