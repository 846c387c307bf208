import type { Context, MiddlewareHandler } from "hono";
import type { Config } from "../config.ts";
import { createDb, type Db } from "../db/client.ts";
import type { AppEnv } from "../env.ts";
import { waitUntil } from "../middleware.ts";
import { PostgresEngagementStore } from "./postgres-store.ts";
import type { EngagementStore } from "./store.ts";

export type OpenedStore = { store: EngagementStore; close: () => Promise<void> };

/** Variables of routes that use the engagement store (see withEngagementStore). */
export type EngagementVariables = {
  /** The request's store, opened on first call and closed after the response. */
  engagement: () => Promise<EngagementStore>;
};

/**
 * Opens the configured engagement store: MongoDB when MONGODB_URL is set (the driver is loaded only
 * then), otherwise Postgres over `db` (the request's client) or, without one, a pool of its own.
 */
export async function openEngagementStore(config: Config, db?: Db): Promise<OpenedStore> {
  if (config.mongodb) {
    const { openMongoStore } = await import("./mongo-store.ts");
    return openMongoStore(config.mongodb);
  }
  if (db) return { store: new PostgresEngagementStore(db), close: async () => {} };
  const own = createDb(config);
  return { store: new PostgresEngagementStore(own.db), close: own.end };
}

/**
 * Gives the route `c.var.engagement()`: the store, opened on first use (a route that fails validation
 * opens nothing) and closed after the response via waitUntil.
 */
export function withEngagementStore(): MiddlewareHandler<AppEnv & { Variables: EngagementVariables }> {
  return async function withEngagementStore(c, next) {
    let opened: Promise<OpenedStore> | undefined;
    c.set("engagement", async () => {
      opened ??= openEngagementStore(c.var.config, c.var.db);
      return (await opened).store;
    });
    try {
      await next();
    } finally {
      if (opened) waitUntil(c, closeQuietly(opened));
    }
  };
}

/** Runs `work` with a store opened for it alone, closing it afterwards (reads outside the engagement routes). */
export async function withOpenedStore<T>(
  c: Context<AppEnv>,
  work: (store: EngagementStore) => Promise<T>,
): Promise<T> {
  const opened = openEngagementStore(c.var.config, c.var.db);
  try {
    return await work((await opened).store);
  } finally {
    waitUntil(c, closeQuietly(opened));
  }
}

async function closeQuietly(opened: Promise<OpenedStore>): Promise<void> {
  try {
    await (await opened).close();
  } catch (error) {
    // Opening failed (already reported by the request that needed it) or closing did: not the client's concern.
    console.error(`engagement store close failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}
