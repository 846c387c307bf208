import { randomBytes } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { videos } from "../../src/db/schema.ts";
import { call, expectError, openDb, user, videoRow } from "./helpers.ts";

// GET /v1/videos?q=: Postgres full-text search over public ready videos' titles and descriptions.
const { db, end } = openDb();
afterAll(async () => {
  await end();
});

/** A word no other test's video has, so each search here sees only this file's videos. */
const marker = () => `zq${randomBytes(5).toString("hex")}`;

async function video(
  ownerId: string,
  title: string,
  description: string | null,
  opts: Parameters<typeof videoRow>[2] = {},
) {
  const row = await videoRow(db, ownerId, { ...opts, title });
  await db.update(videos).set({ description }).where(eq(videos.id, row.id));
  return row.id;
}

async function search(q: string, extra = "") {
  const res = await call("GET", `/v1/videos?q=${encodeURIComponent(q)}${extra}`);
  expect(res.status, res.text).toBe(200);
  return res.json as { videos: { id: string; title: string }[]; nextCursor: string | null };
}

describe("search", () => {
  it("finds public ready videos by title or description words, stemmed, newest first", async () => {
    const owner = await user(db, "search");
    const word = marker();
    const inTitle = await video(owner.id, `Running the ${word} trail`, null);
    const inDescription = await video(owner.id, "A quiet walk", `filmed near ${word}, runs long`);
    const elsewhere = await video(owner.id, "Unrelated", "nothing here");
    // Never found: private, unlisted, not ready.
    await video(owner.id, `${word} private run`, null, { visibility: "private" });
    await video(owner.id, `${word} unlisted run`, null, { visibility: "unlisted" });
    await video(owner.id, `${word} processing run`, null, { status: "processing" });

    const found = await search(word);
    expect(found.videos.map((v) => v.id)).toEqual([inDescription, inTitle]);
    // English stemming: "run" finds "Running" and "runs"; web search syntax for phrases and exclusions.
    expect((await search(`${word} run`)).videos.map((v) => v.id)).toEqual([inDescription, inTitle]);
    expect((await search(`"${word} trail"`)).videos.map((v) => v.id)).toEqual([inTitle]);
    expect((await search(`${word} -walk`)).videos.map((v) => v.id)).toEqual([inTitle]);
    expect((await search(word)).videos.map((v) => v.id)).not.toContain(elsewhere);
  });

  it("pages through matches with the cursor", async () => {
    const owner = await user(db, "search-pages");
    const word = marker();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await video(owner.id, `${word} part ${i}`, null));
    const first = await search(word, "&limit=2");
    const second = await search(word, `&limit=2&cursor=${encodeURIComponent(first.nextCursor ?? "")}`);
    const third = await search(word, `&limit=2&cursor=${encodeURIComponent(second.nextCursor ?? "")}`);
    expect([...first.videos, ...second.videos, ...third.videos].map((v) => v.id)).toEqual(ids.reverse());
    expect(third.nextCursor).toBeNull();
  });

  it("takes any text without failing, and refuses blank or control characters with 400", async () => {
    for (const q of ['"(&|!:*', "-", "or or", "'; drop table videos; --", "\u{1F600}"]) {
      expect((await search(q)).videos).toBeInstanceOf(Array);
    }
    expectError(await call("GET", "/v1/videos?q="), 400, "invalid_request");
    expectError(await call("GET", `/v1/videos?q=${encodeURIComponent("a\u0000b")}`), 400, "invalid_request");
    expectError(await call("GET", `/v1/videos?q=${"a".repeat(201)}`), 400, "invalid_request");
  });

  it("uses the search index rather than reading every video", async () => {
    // A test database is small, and the public list's index has the same predicate: the planner shows it
    // can answer from the search index once reading the table is its last resort and the other index is
    // gone, inside a transaction that is rolled back (the drop never happens).
    let plan: unknown;
    await db
      .transaction(async (tx) => {
        await tx.execute(sql`drop index videos_ready_list_idx`);
        await tx.execute(sql`set local enable_seqscan = off`);
        plan = (
          await tx.execute(
            sql`explain select id from videos where status = 'ready' and visibility = 'public' and (setweight(to_tsvector('english', title), 'A') || setweight(to_tsvector('english', coalesce(description, '')), 'B')) @@ websearch_to_tsquery('english', 'word')`,
          )
        ).rows;
        tx.rollback();
      })
      .catch((error: Error) => {
        if (error.message !== "Rollback") throw error;
      });
    expect(JSON.stringify(plan)).toContain("Bitmap Index Scan on videos_search_idx");
  });
});
