import { neonConfig, Pool } from "@neondatabase/serverless";
import { drizzle } from "drizzle-orm/neon-serverless";
import type { Config } from "../config.ts";
import * as schema from "./schema.ts";

export type Db = ReturnType<typeof drizzle<typeof schema>>;

let configuredProxy: string | null | undefined;

/**
 * Points the Neon driver at a local websocket-to-TCP bridge when NEON_WS_PROXY is set (wrangler dev,
 * tests) and leaves Neon's defaults alone otherwise. neonConfig is module-global, so set it once.
 */
function configureNeon(proxy: string | null) {
  if (configuredProxy === proxy) return;
  configuredProxy = proxy;
  if (proxy === null) return;
  neonConfig.wsProxy = (host, port) => `${proxy}?address=${host}:${port}`;
  neonConfig.useSecureWebSocket = false;
  neonConfig.pipelineTLS = false;
  neonConfig.pipelineConnect = false;
}

/**
 * A pool for one request (or one Durable Object event): Workers cannot carry sockets across requests, so
 * the caller must call `end` (the db middleware does, via waitUntil). Creating it opens no connection
 * until the first query.
 */
export function createDb(config: Config): { db: Db; end: () => Promise<void> } {
  configureNeon(config.neonWsProxy);
  const pool = new Pool({ connectionString: config.databaseUrl });
  let ending = false;
  pool.on("error", (error: Error) => {
    // In workerd every client reports "Network connection lost" once its socket is closed by end(): not
    // news. The message only, never the object: it holds the client, connection string and password.
    if (!ending) console.error(`postgres pool error: ${error.message}`);
  });
  return {
    db: drizzle({ client: pool, schema }),
    end: () => {
      ending = true;
      return pool.end();
    },
  };
}
