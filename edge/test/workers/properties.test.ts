import { env } from "cloudflare:workers";
import { ErrorEnvelope, outputPrefix } from "@streamlet/shared";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { edgeFetch, newUser, newVideo } from "./helpers.ts";

// Random and malformed input to every public route, through the Worker's fetch: whatever arrives, the
// answer is never a 5xx, and every error is the JSON error envelope. The workers env points Redis and S3
// at unreachable addresses, so routes that need them (signup/login/refresh rate limits use Durable Objects
// and are fine; POST /v1/videos presigns locally; uploaded, DELETE video and play delivery reach S3 or
// Redis) may answer 503 with the envelope for valid input: 503 is accepted there, and only there.

type Fixture = { token: string; videoId: string; handle: string; commentId: string };
let fx: Fixture;

beforeAll(async () => {
  const owner = await newUser();
  const video = await newVideo(owner.id, { status: "ready", readyAt: new Date() });
  const handle = `prop${crypto.randomUUID().slice(0, 8)}`;
  const channel = await edgeFetch("/v1/channels", {
    method: "POST",
    headers: { authorization: `Bearer ${owner.token}`, "content-type": "application/json" },
    body: JSON.stringify({ handle, name: "Props" }),
  });
  expect(channel.status).toBe(201);
  const comment = await edgeFetch(`/v1/videos/${video.id}/comments`, {
    method: "POST",
    headers: { authorization: `Bearer ${owner.token}`, "content-type": "application/json" },
    body: JSON.stringify({ body: "seed" }),
  });
  const { id: commentId } = (await comment.json()) as { id: string };
  fx = { token: owner.token, videoId: video.id, handle, commentId };
});

/** Percent-encodes any string (lone surrogates included: TextEncoder replaces them) for a path segment. */
function segment(text: string): string {
  return Array.from(new TextEncoder().encode(text), (byte) =>
    /[A-Za-z0-9_.~-]/.test(String.fromCharCode(byte))
      ? String.fromCharCode(byte)
      : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`,
  ).join("");
}

const anyText = fc.string({ unit: "binary", maxLength: 60 });
type IdChoice = { real: true; upper: boolean } | { text: string };
const idChoices: fc.Arbitrary<IdChoice> = fc.oneof(
  fc.record({ real: fc.constant(true as const), upper: fc.boolean() }),
  fc.record({ text: fc.uuid() }),
  fc.record({ text: anyText }),
  fc.record({ text: fc.constantFrom("..", ".", "%00", "null", "0", "-1", " ", "") }),
);

const fields = fc.record(
  {
    email: fc.oneof(fc.emailAddress(), anyText, fc.integer(), fc.constant(null)),
    password: fc.oneof(fc.string({ minLength: 8, maxLength: 40 }), anyText, fc.string({ maxLength: 5000 })),
    refreshToken: fc.oneof(anyText, fc.string({ maxLength: 5000 }), fc.integer()),
    title: fc.oneof(anyText, fc.string({ maxLength: 1000 }), fc.constant(null), fc.integer()),
    description: fc.oneof(anyText, fc.string({ maxLength: 6000 }), fc.constant(null)),
    visibility: fc.oneof(fc.constantFrom("public", "unlisted", "private", "PUBLIC", ""), anyText),
    handle: fc.oneof(fc.stringMatching(/^[a-z0-9_]{1,40}$/), anyText),
    name: fc.oneof(anyText, fc.string({ maxLength: 500 }), fc.boolean()),
    body: fc.oneof(anyText, fc.string({ maxLength: 2100 })),
    value: fc.oneof(fc.constantFrom("like", "dislike"), anyText),
    extra: fc.anything(),
  },
  { requiredKeys: [] },
);
const bodies = fc.oneof(
  fields.map((value) => JSON.stringify(value)),
  fc.jsonValue().map((value) => JSON.stringify(value)),
  anyText,
  fc.string({ maxLength: 20_000 }),
  fc.constantFrom("", "{", "[]", "null", '{"email":', "\u0000", '"\\ud800"'),
);
const contentTypes = fc.constantFrom("application/json", "text/plain", undefined);
const queries = fc
  .dictionary(
    fc.constantFrom("limit", "cursor", "since", "x"),
    fc.oneof(anyText, fc.integer().map(String), fc.constantFrom("-1", "0", "1e9", "NaN", "", "abc")),
    { maxKeys: 3 },
  )
  .map((params) => new URLSearchParams(params).toString());
const tokens = fc.oneof(
  fc.constant<"valid" | undefined>("valid"),
  fc.constant(undefined),
  fc.string({ maxLength: 60 }),
  fc.stringMatching(/^Bearer [!-~]{0,80}$/),
  fc.constantFrom("Bearer", "Basic abc", "Bearer a.b.c", "Bearer eyJhbGciOiJub25lIn0.e30."),
);

type Route = {
  group: string;
  method: string;
  path: (id: string) => string;
  real: () => string;
  may503?: boolean;
};
const routes: Route[] = [
  { group: "auth", method: "POST", path: () => "/v1/auth/signup", real: () => "" },
  { group: "auth", method: "POST", path: () => "/v1/auth/login", real: () => "" },
  { group: "auth", method: "POST", path: () => "/v1/auth/refresh", real: () => "" },
  { group: "auth", method: "POST", path: () => "/v1/auth/logout", real: () => "" },
  { group: "auth", method: "POST", path: () => "/v1/auth/logout-all", real: () => "" },
  { group: "videos", method: "POST", path: () => "/v1/videos", real: () => "", may503: true },
  { group: "videos", method: "GET", path: () => "/v1/videos", real: () => "" },
  { group: "videos", method: "GET", path: () => "/v1/me/videos", real: () => "" },
  { group: "videos", method: "GET", path: (id) => `/v1/videos/${id}`, real: () => fx.videoId },
  { group: "videos", method: "PATCH", path: (id) => `/v1/videos/${id}`, real: () => fx.videoId },
  {
    group: "videos",
    method: "POST",
    path: (id) => `/v1/videos/${id}/uploaded`,
    real: () => fx.videoId,
    may503: true,
  },
  { group: "videos", method: "GET", path: (id) => `/v1/videos/${id}/events`, real: () => fx.videoId },
  { group: "engagement", method: "PUT", path: (id) => `/v1/videos/${id}/reaction`, real: () => fx.videoId },
  {
    group: "engagement",
    method: "DELETE",
    path: (id) => `/v1/videos/${id}/reaction`,
    real: () => fx.videoId,
  },
  { group: "engagement", method: "POST", path: (id) => `/v1/videos/${id}/views`, real: () => fx.videoId },
  { group: "comments", method: "POST", path: (id) => `/v1/videos/${id}/comments`, real: () => fx.videoId },
  { group: "comments", method: "GET", path: (id) => `/v1/videos/${id}/comments`, real: () => fx.videoId },
  { group: "comments", method: "GET", path: (id) => `/v1/comments/${id}/replies`, real: () => fx.commentId },
  { group: "channels", method: "POST", path: () => "/v1/channels", real: () => "" },
  { group: "channels", method: "GET", path: (h) => `/v1/channels/${h}`, real: () => fx.handle },
  { group: "channels", method: "PATCH", path: (h) => `/v1/channels/${h}`, real: () => fx.handle },
  { group: "channels", method: "PUT", path: (h) => `/v1/channels/${h}/subscription`, real: () => fx.handle },
  {
    group: "channels",
    method: "DELETE",
    path: (h) => `/v1/channels/${h}/subscription`,
    real: () => fx.handle,
  },
  { group: "channels", method: "GET", path: () => "/v1/me/subscriptions", real: () => "" },
  { group: "channels", method: "GET", path: (h) => `/v1/channels/${h}/videos`, real: () => fx.handle },
  // Play delivery of a ready video reads storage (503 `storage_unavailable` when it fails, tested below),
  // so these properties use ids of no ready video (a fresh uuid stands in for "real").
  {
    group: "play",
    method: "GET",
    path: (id) => `/v1/play/${id}/master.m3u8`,
    real: () => crypto.randomUUID(),
  },
  {
    group: "play",
    method: "GET",
    path: (id) => `/v1/play/${id}/720p/seg_00001.m4s`,
    real: () => crypto.randomUUID(),
  },
  {
    group: "play",
    method: "GET",
    path: (id) => `/v1/play/${id}/t/${id}/master.m3u8`,
    real: () => crypto.randomUUID(),
  },
];

async function expectNoServerError(res: Response, what: string, may503: boolean) {
  const text = res.status === 101 ? "" : await res.text();
  if (res.status === 101) res.webSocket?.accept();
  if (res.status === 101) res.webSocket?.close(1000, "done");
  if (!(may503 && res.status === 503))
    expect(res.status, `${what} → ${res.status} ${text}`).toBeLessThan(500);
  if (res.status >= 400 && (res.headers.get("content-type") ?? "").startsWith("application/json")) {
    const parsed = ErrorEnvelope.safeParse(JSON.parse(text));
    expect(parsed.success, `${what} → ${text}`).toBe(true);
  } else if (res.status >= 400) {
    expect(res.headers.get("content-type") ?? "", `${what} → ${text}`).toMatch(/^application\/json/);
  }
}

export const runsPerGroup = 100;
const groups = [...new Set(routes.map((r) => r.group))];

describe("every route under random input", () => {
  for (const group of groups) {
    const inGroup = routes.filter((r) => r.group === group);
    it(`${group}: never 5xx, every error is the envelope (${runsPerGroup} runs)`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...inGroup),
          idChoices,
          bodies,
          contentTypes,
          queries,
          tokens,
          async (route, idChoice, body, contentType, query, token) => {
            const headers: Record<string, string> = {
              "cf-connecting-ip": `10.${Math.floor(Math.random() * 255)}.${Math.floor(Math.random() * 255)}.7`,
            };
            if (token !== undefined) headers.authorization = token === "valid" ? `Bearer ${fx.token}` : token;
            if (contentType) headers["content-type"] = contentType;
            const id =
              "text" in idChoice
                ? segment(idChoice.text)
                : idChoice.upper
                  ? route.real().toUpperCase()
                  : route.real();
            const path = `${route.path(id)}${query ? `?${query}` : ""}`;
            const res = await edgeFetch(path, {
              method: route.method,
              headers,
              body: route.method === "GET" ? undefined : body,
            });
            await expectNoServerError(
              res,
              `${route.method} ${path} ${JSON.stringify(body).slice(0, 200)}`,
              route.may503 === true,
            );
          },
        ),
        { numRuns: runsPerGroup },
      );
    }, 120_000);
  }
  it("play: a ready video's asset while storage fails answers 503, not 500", async () => {
    // fx.videoId is a ready public video; the storage proxy answers 500 for every object below its prefix.
    const config = loadConfig(env);
    const fail = `${config.s3.endpoint}/__proxy/fail?prefix=${encodeURIComponent(outputPrefix(fx.videoId))}`;
    expect((await fetch(fail, { method: "POST" })).status).toBe(204);
    const res = await edgeFetch(`/v1/play/${fx.videoId}/master.m3u8`);
    expect(res.status).toBe(503);
    expect(ErrorEnvelope.parse(await res.json()).error.code).toBe("storage_unavailable");
  });
});
