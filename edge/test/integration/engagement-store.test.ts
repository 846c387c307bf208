import { neonConfig } from "@neondatabase/serverless";
import { MongoClient } from "mongodb";
import { afterAll, describe, inject, it } from "vitest";
import WebSocket from "ws";
import { loadConfig } from "../../src/config.ts";
import { createDb } from "../../src/db/client.ts";
import { openMongoStore } from "../../src/engagement/mongo-store.ts";
import { postgresStoreFixture, runEngagementStoreContract } from "../engagement-store-contract.ts";

// The Worker's own driver in Node: the Neon Pool over WebSockets, through the stack's bridge.
neonConfig.webSocketConstructor = WebSocket;
const config = loadConfig(inject("edgeVars"));

describe("Postgres engagement store contract (Node, the stack's database)", () => {
  runEngagementStoreContract(async () => {
    const { db, end } = createDb(config);
    return postgresStoreFixture(db, end);
  });
});

// A real MongoDB only: none can be installed on the dev machines, and a fake would prove nothing.
const mongoUrl = process.env.MONGODB_URL ?? "";
// One database per run, dropped afterwards, so runs never see each other's documents.
const mongoDb = `streamlet_contract_${process.pid}_${Date.now()}`;
const MONGO_SKIPPED =
  "MongoDB store contract (skipped: MONGODB_URL not set; docker-compose up mongodb provides one)";
// Said out loud too: the default reporter only counts skipped tests.
if (!mongoUrl) console.warn(MONGO_SKIPPED);

describe.skipIf(!mongoUrl)(
  mongoUrl ? "MongoDB engagement store contract (Node, MONGODB_URL)" : MONGO_SKIPPED,
  () => {
    afterAll(async () => {
      const client = new MongoClient(mongoUrl);
      try {
        await client.db(mongoDb).dropDatabase();
      } finally {
        await client.close();
      }
    });

    it("creates its indexes itself: unique {userId, videoId} on reactions, {videoId, createdAt, _id} on comments", async () => {
      const { close } = await openMongoStore({ url: mongoUrl, db: mongoDb });
      await close();
      const client = new MongoClient(mongoUrl);
      try {
        const db = client.db(mongoDb);
        const reactions = await db.collection("reactions").indexes();
        const unique = reactions.find((index) => index.name === "reactions_user_video_unique");
        if (!unique?.unique || JSON.stringify(unique.key) !== '{"userId":1,"videoId":1}')
          throw new Error(`reactions indexes: ${JSON.stringify(reactions)}`);
        const comments = await db.collection("comments").indexes();
        if (!comments.some((index) => JSON.stringify(index.key) === '{"videoId":1,"createdAt":-1,"_id":-1}'))
          throw new Error(`comments indexes: ${JSON.stringify(comments)}`);
      } finally {
        await client.close();
      }
    });

    runEngagementStoreContract(async () => {
      const { store, close } = await openMongoStore({ url: mongoUrl, db: mongoDb });
      // No foreign keys in MongoDB: any ids will do.
      return {
        store,
        newUser: async () => crypto.randomUUID(),
        newVideo: async () => crypto.randomUUID(),
        close,
      };
    });
  },
);
