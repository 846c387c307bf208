import { Channel, ChannelList, VideoList, type Visibility } from "@streamlet/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { videos } from "../../src/db/schema.ts";
import { call, expectError, openDb, user as userOf } from "./helpers.ts";

// Channels and subscriptions through the real stack (wrangler dev, Postgres through the Neon bridge).
const { db, end } = openDb();
afterAll(() => end());

const user = () => userOf(db, "channels");

const newHandle = () => `ch_${crypto.randomUUID().replace(/-/g, "").slice(0, 20)}`;

async function channelOf(owner: { token: string }, handle = newHandle()) {
  const res = await call("POST", "/v1/channels", {
    token: owner.token,
    body: { handle, name: "My channel" },
  });
  expect(res.status, JSON.stringify(res.json)).toBe(201);
  return Channel.parse(res.json);
}

type Who = "anonymous" | "other" | "owner";

describe("authorisation matrix: channel route × caller", () => {
  let owner: Awaited<ReturnType<typeof user>>;
  let other: Awaited<ReturnType<typeof user>>;
  beforeAll(async () => {
    owner = await user();
    other = await user();
  });
  const tokenOf = (who: Who) => (who === "owner" ? owner.token : who === "other" ? other.token : undefined);

  const routes: Array<
    [string, (handle: string, token?: string) => Promise<{ status: number }>, Record<Who, number>]
  > = [
    [
      "GET /v1/channels/:handle",
      (h, token) => call("GET", `/v1/channels/${h}`, { token }),
      { anonymous: 200, other: 200, owner: 200 },
    ],
    [
      "PATCH /v1/channels/:handle",
      (h, token) => call("PATCH", `/v1/channels/${h}`, { token, body: { name: "Renamed" } }),
      { anonymous: 401, other: 404, owner: 200 },
    ],
    [
      "DELETE /v1/channels/:handle",
      (h, token) => call("DELETE", `/v1/channels/${h}`, { token }),
      { anonymous: 401, other: 404, owner: 204 },
    ],
    [
      "PUT /v1/channels/:handle/subscription",
      (h, token) => call("PUT", `/v1/channels/${h}/subscription`, { token }),
      { anonymous: 401, other: 200, owner: 400 },
    ],
    [
      "DELETE /v1/channels/:handle/subscription",
      (h, token) => call("DELETE", `/v1/channels/${h}/subscription`, { token }),
      { anonymous: 401, other: 204, owner: 204 },
    ],
    [
      "GET /v1/channels/:handle/videos",
      (h, token) => call("GET", `/v1/channels/${h}/videos`, { token }),
      { anonymous: 200, other: 200, owner: 200 },
    ],
  ];

  it.each(
    routes.flatMap(([name, run, expected]) =>
      (["anonymous", "other", "owner"] as const).map((who) => [name, who, expected[who], run] as const),
    ),
  )("%s as %s → %i", async (_name, who, status, run) => {
    // A fresh channel each time (DELETE removes it; each user may own one, so the owner is new too).
    const channelOwner = await user();
    if (who === "owner") owner = channelOwner;
    const channel = await channelOf(channelOwner);
    const res = await run(channel.handle, tokenOf(who));
    expect(res.status).toBe(status);
    // An unknown handle is 404 for every caller of every route but the signed-in-only refusals.
    const missing = await run(newHandle(), tokenOf(who));
    expect(missing.status).toBe(status === 401 ? 401 : 404);
  });

  it.each<[Visibility, string, boolean]>([
    ["public", "ready", true],
    ["unlisted", "ready", false],
    ["private", "ready", false],
    ["public", "queued", false],
  ])("lists a %s %s video on the channel page: %s", async (visibility, status, listed) => {
    const channelOwner = await user();
    const channel = await channelOf(channelOwner);
    const [row] = await db
      .insert(videos)
      .values({ ownerId: channelOwner.id, title: "v", visibility, status: status as "ready" | "queued" })
      .returning({ id: videos.id });
    for (const token of [undefined, other.token, channelOwner.token]) {
      const page = VideoList.parse(
        (await call("GET", `/v1/channels/${channel.handle}/videos`, { token })).json,
      );
      expect(page.videos.some((v) => v.id === row?.id)).toBe(listed);
    }
  });
});

describe("channels", () => {
  it("creates one channel per user with a unique handle; 409 otherwise; 400 for bad bodies", async () => {
    const a = await user();
    const b = await user();
    const handle = newHandle();
    const created = await call("POST", "/v1/channels", {
      token: a.token,
      body: { handle: handle.toUpperCase(), name: " Cooking ", description: "daily" },
    });
    expect(created.status).toBe(201);
    expect(Channel.parse(created.json)).toMatchObject({
      handle,
      name: "Cooking",
      description: "daily",
      ownerId: a.id,
      subscriberCount: 0,
    });
    expectError(
      await call("POST", "/v1/channels", { token: a.token, body: { handle: newHandle(), name: "second" } }),
      409,
      "channel_exists",
    );
    expectError(
      await call("POST", "/v1/channels", { token: b.token, body: { handle, name: "copy" } }),
      409,
      "handle_taken",
    );
    for (const body of [
      {},
      { handle: "a", name: "x" },
      { handle: "no spaces!", name: "x" },
      { handle: newHandle(), name: "x", extra: 1 },
    ]) {
      expectError(await call("POST", "/v1/channels", { token: b.token, body }), 400, "invalid_request");
    }
    expectError(
      await call("POST", "/v1/channels", { body: { handle: newHandle(), name: "x" } }),
      401,
      "unauthorized",
    );
    const got = Channel.parse((await call("GET", `/v1/channels/${handle.toUpperCase()}`)).json);
    expect(got.id).toBe(Channel.parse(created.json).id);
    // Deleting frees both the user's slot and the handle.
    expect((await call("DELETE", `/v1/channels/${handle}`, { token: a.token })).status).toBe(204);
    expectError(await call("GET", `/v1/channels/${handle}`), 404, "not_found");
    await channelOf(b, handle);
  });

  it("updates name and description for the owner only", async () => {
    const owner = await user();
    const channel = await channelOf(owner);
    const res = await call("PATCH", `/v1/channels/${channel.handle}`, {
      token: owner.token,
      body: { name: "New", description: "about" },
    });
    expect(Channel.parse(res.json)).toMatchObject({ name: "New", description: "about" });
    for (const body of [{}, { handle: "other_handle" }, { name: "" }]) {
      expectError(
        await call("PATCH", `/v1/channels/${channel.handle}`, { token: owner.token, body }),
        400,
        "invalid_request",
      );
    }
  });

  it("subscribes idempotently, counts subscribers and lists a user's subscriptions newest first", async () => {
    const fan = await user();
    const made: Channel[] = [];
    for (let i = 0; i < 3; i++) made.push(await channelOf(await user()));
    for (const channel of made) {
      const res = await call("PUT", `/v1/channels/${channel.handle}/subscription`, { token: fan.token });
      expect(Channel.parse(res.json).subscriberCount).toBe(1);
    }
    const again = await call("PUT", `/v1/channels/${made[0]?.handle}/subscription`, { token: fan.token });
    expect(Channel.parse(again.json).subscriberCount).toBe(1);
    expect(Channel.parse((await call("GET", `/v1/channels/${made[0]?.handle}`)).json).subscriberCount).toBe(
      1,
    );

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
      const page = ChannelList.parse(
        (await call("GET", `/v1/me/subscriptions?limit=2${query}`, { token: fan.token })).json,
      );
      seen.push(...page.channels.map((c) => c.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(made.map((c) => c.id).reverse());
    expectError(await call("GET", "/v1/me/subscriptions"), 401, "unauthorized");

    expect(
      (await call("DELETE", `/v1/channels/${made[1]?.handle}/subscription`, { token: fan.token })).status,
    ).toBe(204);
    const after = ChannelList.parse((await call("GET", "/v1/me/subscriptions", { token: fan.token })).json);
    expect(after.channels.map((c) => c.id)).toEqual([made[2]?.id, made[0]?.id]);
    expect(Channel.parse((await call("GET", `/v1/channels/${made[1]?.handle}`)).json).subscriberCount).toBe(
      0,
    );
  });

  it("pages a channel's videos newest first", async () => {
    const owner = await user();
    const channel = await channelOf(owner);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const [row] = await db
        .insert(videos)
        .values({ ownerId: owner.id, title: `v${i}`, status: "ready", readyAt: new Date() })
        .returning({ id: videos.id });
      ids.push(row?.id ?? "");
    }
    const first = VideoList.parse((await call("GET", `/v1/channels/${channel.handle}/videos?limit=2`)).json);
    const second = VideoList.parse(
      (
        await call(
          "GET",
          `/v1/channels/${channel.handle}/videos?limit=2&cursor=${encodeURIComponent(first.nextCursor ?? "")}`,
        )
      ).json,
    );
    expect([...first.videos, ...second.videos].map((v) => v.id)).toEqual(ids.reverse());
    expect(second.nextCursor).toBeNull();
    expectError(
      await call("GET", `/v1/channels/${channel.handle}/videos?cursor=nope`),
      400,
      "invalid_cursor",
    );
  });
});
