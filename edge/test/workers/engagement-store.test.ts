import { env } from "cloudflare:workers";
import { describe, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { createDb } from "../../src/db/client.ts";
import { postgresStoreFixture, runEngagementStoreContract } from "../engagement-store-contract.ts";

// The Postgres store inside workerd, through the Worker's own Neon driver and the test bridge.
describe("Postgres engagement store contract (inside workerd)", () => {
  runEngagementStoreContract(async () => {
    const { db, end } = createDb(loadConfig(env));
    return postgresStoreFixture(db, end);
  });
});

// The MongoDB store is not run here: the workers pool (@cloudflare/vitest-plugin 1.5.0, checked 2026-11-30) cannot load the mongodb driver (its CJS
// shim resolves `require("bson")` inside mongodb/lib/bson.js to that same file, which then recurses
// forever). wrangler's bundle of the same Worker runs it (edge/src/engagement/README.md); the contract runs
// against MongoDB in Node, in the integration project.
describe("MongoDB engagement store contract inside workerd", () => {
  it.skip("skipped: @cloudflare/vitest-plugin 1.5.0 cannot load the mongodb driver (the integration project runs this contract in Node)", () => {});
});
