import type { Config } from "./config.ts";
import type { Db } from "./db/client.ts";

/** The Hono environment every sub-app shares: generated bindings plus per-request variables. */
export type AppEnv = {
  Bindings: Env;
  Variables: {
    config: Config;
    db: Db;
    requestId: string;
  };
};

/** Variables added by requireUser on signed-in routes. */
export type UserVariables = { userId: string };
