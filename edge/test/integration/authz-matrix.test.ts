import {
  BEARER_PROTOCOL_PREFIX,
  ErrorEnvelope,
  EVENTS_PROTOCOL,
  eventsPath,
  type Visibility,
} from "@streamlet/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call as callEdge, openDb, readyVideo as readyVideoOf, upgrade as upgradeEdge } from "./helpers.ts";

// One authorisation matrix for every public route: route × caller (anonymous, another user, the owner) ×
// visibility (where it matters), each cell a test with its expected status. Users sign up through the API
// (each request with its own CF-Connecting-IP, so the rate limits never trip); the ready videos are rows
// plus stored objects (as videos-access.test.ts builds them), and every mutating cell is non-destructive
// or works on a throwaway video / comment; the owner's channel DELETE runs last.
const { db, end } = openDb();
afterAll(() => end());

let ipCounter = 0;
const ipBase = `10.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`;
const nextIp = () => `${ipBase}.${(ipCounter++ % 250) + 1}`;

type Res = { status: number; json: unknown };
/** A request from an address of its own, so the rate limits never trip. */
async function call(
  method: string,
  path: string,
  opts: { token?: string; body?: unknown } = {},
): Promise<Res> {
  const res = await callEdge(method, path, { ...opts, headers: { "cf-connecting-ip": nextIp() } });
  return { status: res.status, json: res.json };
}

/** The status of a WebSocket upgrade to the events route (101 when it opens). */
async function upgrade(id: string, token?: string): Promise<Res> {
  const protocols = token ? [EVENTS_PROTOCOL, `${BEARER_PROTOCOL_PREFIX}${token}`] : [EVENTS_PROTOCOL];
  const res = await upgradeEdge(eventsPath(id), { protocols });
  res.ws?.close();
  return { status: res.status, json: res.json ?? null };
}

type Account = { id: string; email: string; password: string; accessToken: string; refreshToken: string };
async function signup(): Promise<Account> {
  const email = `authz-${crypto.randomUUID()}@example.com`;
  const password = `Pw-${crypto.randomUUID()}`;
  const res = await call("POST", "/v1/auth/signup", { body: { email, password } });
  expect(res.status, JSON.stringify(res.json)).toBe(201);
  const body = res.json as { user: { id: string }; accessToken: string; refreshToken: string };
  return {
    id: body.user.id,
    email,
    password,
    accessToken: body.accessToken,
    refreshToken: body.refreshToken,
  };
}
async function login(a: Account) {
  const res = await call("POST", "/v1/auth/login", { body: { email: a.email, password: a.password } });
  expect(res.status).toBe(200);
  return res.json as { accessToken: string; refreshToken: string };
}

async function readyVideo(ownerId: string, visibility: Visibility) {
  return (await readyVideoOf(db, ownerId, visibility, `authz ${visibility}`)).id;
}

type Who = "anonymous" | "another user" | "the owner";
const WHO: Who[] = ["anonymous", "another user", "the owner"];
const VIS: Visibility[] = ["public", "unlisted", "private"];

let owner: Account;
let other: Account;
let handle: string;
const video: Record<Visibility, string> = { public: "", unlisted: "", private: "" };
const comment: Record<Visibility, string> = { public: "", unlisted: "", private: "" };

beforeAll(async () => {
  owner = await signup();
  other = await signup();
  handle = `authz_${crypto.randomUUID().slice(0, 8)}`;
  const ch = await call("POST", "/v1/channels", {
    token: owner.accessToken,
    body: { handle, name: "Authz" },
  });
  expect(ch.status, JSON.stringify(ch.json)).toBe(201);
  for (const v of VIS) {
    video[v] = await readyVideo(owner.id, v);
    const c = await call("POST", `/v1/videos/${video[v]}/comments`, {
      token: owner.accessToken,
      body: { body: "seed" },
    });
    expect(c.status).toBe(201);
    comment[v] = (c.json as { id: string }).id;
  }
});

const tokenOf = (who: Who) =>
  who === "the owner" ? owner.accessToken : who === "another user" ? other.accessToken : undefined;
const accountOf = (who: Who) => (who === "the owner" ? owner : who === "another user" ? other : undefined);

type Row = {
  route: string;
  run: (who: Who, v: Visibility) => Promise<Res>;
  /** One status per caller, or per caller and visibility. */
  expect: Record<Who, number | Record<Visibility, number>>;
  perVisibility?: boolean;
};
const open = { public: 200, unlisted: 200, private: 404 };

const table: Row[] = [
  // auth
  {
    route: "POST /v1/auth/signup",
    run: (who) =>
      call("POST", "/v1/auth/signup", {
        token: tokenOf(who),
        body: { email: `authz-${crypto.randomUUID()}@example.com`, password: `Pw-${crypto.randomUUID()}` },
      }),
    expect: { anonymous: 201, "another user": 201, "the owner": 201 },
  },
  {
    route: "POST /v1/auth/login",
    run: (who) => {
      const a = accountOf(who);
      return call("POST", "/v1/auth/login", {
        body: a
          ? { email: a.email, password: a.password }
          : { email: "nobody@example.com", password: "Pw-nobody-123" },
      });
    },
    expect: { anonymous: 401, "another user": 200, "the owner": 200 },
  },
  {
    route: "POST /v1/auth/refresh",
    run: async (who) => {
      const a = accountOf(who);
      const refreshToken = a ? (await login(a)).refreshToken : "not-a-refresh-token";
      return call("POST", "/v1/auth/refresh", { body: { refreshToken } });
    },
    expect: { anonymous: 401, "another user": 200, "the owner": 200 },
  },
  {
    route: "POST /v1/auth/logout (anonymous: an unknown refresh token)",
    run: async (who) => {
      const a = accountOf(who);
      const refreshToken = a ? (await login(a)).refreshToken : "not-a-refresh-token";
      return call("POST", "/v1/auth/logout", { body: { refreshToken } });
    },
    // Idempotent by design: an unknown refresh token is answered 204 too (no token oracle).
    expect: { anonymous: 204, "another user": 204, "the owner": 204 },
  },
  {
    route: "POST /v1/auth/logout-all",
    run: async (who) => {
      const a = accountOf(who);
      return call("POST", "/v1/auth/logout-all", { token: a ? (await login(a)).accessToken : undefined });
    },
    expect: { anonymous: 401, "another user": 204, "the owner": 204 },
  },
  // videos
  {
    route: "POST /v1/videos",
    run: (who) =>
      call("POST", "/v1/videos", {
        token: tokenOf(who),
        body: { title: "authz new", upload: { size: 1024 } },
      }),
    expect: { anonymous: 401, "another user": 201, "the owner": 201 },
  },
  {
    route: "GET /v1/videos",
    run: (who) => call("GET", "/v1/videos?limit=5", { token: tokenOf(who) }),
    expect: { anonymous: 200, "another user": 200, "the owner": 200 },
  },
  {
    route: "GET /v1/me",
    run: (who) => call("GET", "/v1/me", { token: tokenOf(who) }),
    expect: { anonymous: 401, "another user": 200, "the owner": 200 },
  },
  {
    route: "GET /v1/me/feed",
    run: (who) => call("GET", "/v1/me/feed", { token: tokenOf(who) }),
    expect: { anonymous: 401, "another user": 200, "the owner": 200 },
  },
  {
    route: "GET /v1/me/videos",
    run: (who) => call("GET", "/v1/me/videos", { token: tokenOf(who) }),
    expect: { anonymous: 401, "another user": 200, "the owner": 200 },
  },
  {
    route: "GET /v1/videos/:id",
    perVisibility: true,
    run: (who, v) => call("GET", `/v1/videos/${video[v]}`, { token: tokenOf(who) }),
    expect: { anonymous: open, "another user": open, "the owner": 200 },
  },
  {
    route: "PATCH /v1/videos/:id",
    perVisibility: true,
    run: (who, v) =>
      call("PATCH", `/v1/videos/${video[v]}`, { token: tokenOf(who), body: { title: `authz ${v}` } }),
    expect: { anonymous: 401, "another user": 404, "the owner": 200 },
  },
  {
    route: "POST /v1/videos/:id/uploaded",
    perVisibility: true,
    run: (who, v) => call("POST", `/v1/videos/${video[v]}/uploaded`, { token: tokenOf(who) }),
    expect: { anonymous: 401, "another user": 404, "the owner": 409 },
  },
  {
    route: "DELETE /v1/videos/:id (a throwaway video)",
    perVisibility: true,
    run: async (who, v) =>
      call("DELETE", `/v1/videos/${await readyVideo(owner.id, v)}`, { token: tokenOf(who) }),
    expect: { anonymous: 401, "another user": 404, "the owner": 204 },
  },
  {
    route: "GET /v1/videos/:id/events (WebSocket upgrade)",
    perVisibility: true,
    run: (who, v) => upgrade(video[v], tokenOf(who)),
    expect: { anonymous: 401, "another user": 404, "the owner": 101 },
  },
  // engagement
  {
    route: "PUT /v1/videos/:id/reaction",
    perVisibility: true,
    run: (who, v) =>
      call("PUT", `/v1/videos/${video[v]}/reaction`, { token: tokenOf(who), body: { value: "like" } }),
    expect: { anonymous: 401, "another user": open, "the owner": 200 },
  },
  {
    route: "DELETE /v1/videos/:id/reaction",
    perVisibility: true,
    run: (who, v) => call("DELETE", `/v1/videos/${video[v]}/reaction`, { token: tokenOf(who) }),
    expect: { anonymous: 401, "another user": open, "the owner": 200 },
  },
  {
    route: "POST /v1/videos/:id/views",
    perVisibility: true,
    run: (who, v) => call("POST", `/v1/videos/${video[v]}/views`, { token: tokenOf(who) }),
    expect: {
      anonymous: { public: 202, unlisted: 202, private: 404 },
      "another user": { public: 202, unlisted: 202, private: 404 },
      "the owner": 202,
    },
  },
  // comments
  {
    route: "POST /v1/videos/:id/comments",
    perVisibility: true,
    run: (who, v) =>
      call("POST", `/v1/videos/${video[v]}/comments`, { token: tokenOf(who), body: { body: "hi" } }),
    expect: {
      anonymous: 401,
      "another user": { public: 201, unlisted: 201, private: 404 },
      "the owner": 201,
    },
  },
  {
    route: "GET /v1/videos/:id/comments",
    perVisibility: true,
    run: (who, v) => call("GET", `/v1/videos/${video[v]}/comments`, { token: tokenOf(who) }),
    expect: { anonymous: open, "another user": open, "the owner": 200 },
  },
  {
    route: "GET /v1/comments/:id/replies",
    perVisibility: true,
    run: (who, v) => call("GET", `/v1/comments/${comment[v]}/replies`, { token: tokenOf(who) }),
    expect: { anonymous: open, "another user": open, "the owner": 200 },
  },
  {
    route: "DELETE /v1/comments/:id (a throwaway comment by the owner)",
    perVisibility: true,
    run: async (who, v) => {
      const c = await call("POST", `/v1/videos/${video[v]}/comments`, {
        token: owner.accessToken,
        body: { body: "bye" },
      });
      return call("DELETE", `/v1/comments/${(c.json as { id: string }).id}`, { token: tokenOf(who) });
    },
    expect: { anonymous: 401, "another user": 404, "the owner": 204 },
  },
  // play
  {
    route: "GET /v1/play/:id/master.m3u8",
    perVisibility: true,
    run: (who, v) => call("GET", `/v1/play/${video[v]}/master.m3u8`, { token: tokenOf(who) }),
    expect: { anonymous: open, "another user": open, "the owner": open },
  },
  {
    route: "GET playback.hls (the URL GET /v1/videos/:id gives the caller)",
    perVisibility: true,
    run: async (who, v) => {
      const got = await call("GET", `/v1/videos/${video[v]}`, { token: tokenOf(who) });
      const hls = (got.json as { playback?: { hls?: string } } | null)?.playback?.hls;
      if (!hls) return got;
      const res = await fetch(hls);
      await res.arrayBuffer();
      return { status: res.status, json: null };
    },
    expect: { anonymous: open, "another user": open, "the owner": 200 },
  },
  // channels
  {
    route: "POST /v1/channels",
    run: (who) =>
      call("POST", "/v1/channels", {
        token: tokenOf(who),
        body: { handle: `authz_${crypto.randomUUID().slice(0, 8)}`, name: "Another" },
      }),
    expect: { anonymous: 401, "another user": 201, "the owner": 409 },
  },
  {
    route: "GET /v1/channels/:handle",
    run: (who) => call("GET", `/v1/channels/${handle}`, { token: tokenOf(who) }),
    expect: { anonymous: 200, "another user": 200, "the owner": 200 },
  },
  {
    route: "PATCH /v1/channels/:handle",
    run: (who) => call("PATCH", `/v1/channels/${handle}`, { token: tokenOf(who), body: { name: "Authz" } }),
    expect: { anonymous: 401, "another user": 404, "the owner": 200 },
  },
  {
    route: "PUT /v1/channels/:handle/subscription",
    run: (who) => call("PUT", `/v1/channels/${handle}/subscription`, { token: tokenOf(who) }),
    expect: { anonymous: 401, "another user": 200, "the owner": 400 },
  },
  {
    route: "GET /v1/me/subscriptions",
    run: (who) => call("GET", "/v1/me/subscriptions", { token: tokenOf(who) }),
    expect: { anonymous: 401, "another user": 200, "the owner": 200 },
  },
  {
    route: "DELETE /v1/channels/:handle/subscription",
    run: (who) => call("DELETE", `/v1/channels/${handle}/subscription`, { token: tokenOf(who) }),
    // Idempotent: the owner is never subscribed to their own channel, so removing it answers 204.
    expect: { anonymous: 401, "another user": 204, "the owner": 204 },
  },
  {
    route: "GET /v1/channels/:handle/videos",
    run: (who) => call("GET", `/v1/channels/${handle}/videos`, { token: tokenOf(who) }),
    expect: { anonymous: 200, "another user": 200, "the owner": 200 },
  },
  {
    route: "DELETE /v1/channels/:handle (the owner's cell last)",
    run: (who) => call("DELETE", `/v1/channels/${handle}`, { token: tokenOf(who) }),
    expect: { anonymous: 401, "another user": 404, "the owner": 204 },
  },
];

const cells = table.flatMap((row) =>
  WHO.flatMap((who) =>
    (row.perVisibility ? VIS : [undefined]).map((v) => {
      const e = row.expect[who];
      const status = typeof e === "number" ? e : e[v ?? "public"];
      const name = `${row.route} as ${who}${v ? ` on a ${v} video` : ""} → ${status}`;
      return { name, row, who, v: v ?? ("public" as Visibility), status };
    }),
  ),
);
export const matrixCells = cells.length;

describe("authorisation matrix", () => {
  it.each(cells.map((c) => [c.name, c] as const))("%s", async (_name, { row, who, v, status }) => {
    const res = await row.run(who, v);
    expect(res.status, JSON.stringify(res.json)).toBe(status);
    if (status >= 400) expect(ErrorEnvelope.safeParse(res.json).success, JSON.stringify(res.json)).toBe(true);
  });
});
