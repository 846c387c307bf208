import { ErrorEnvelope } from "@streamlet/shared";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { edgeFetch, newUser, newVideo } from "./helpers.ts";

// Random and malformed input to the engagement and comment routes, through the Worker's fetch: whatever
// arrives, the answer is never a 5xx, and every non-2xx is the error envelope.

// The DELETE route gets a thread of its own, so the comments the other properties read are never deleted.
type Fixture = {
  token: string;
  videoId: string;
  commentId: string;
  replyId: string;
  doomedId: string;
  doomedReplyId: string;
};
let fx: Fixture;

beforeAll(async () => {
  const owner = await newUser();
  const video = await newVideo(owner.id, { status: "ready", readyAt: new Date() });
  const post = (body: unknown) =>
    edgeFetch(`/v1/videos/${video.id}/comments`, {
      method: "POST",
      headers: { authorization: `Bearer ${owner.token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    }).then((res) => res.json() as Promise<{ id: string }>);
  const comment = await post({ body: "seed" });
  const reply = await post({ body: "seed reply", parentId: comment.id });
  const doomed = await post({ body: "to be deleted" });
  const doomedReply = await post({ body: "to be deleted too", parentId: doomed.id });
  fx = {
    token: owner.token,
    videoId: video.id,
    commentId: comment.id,
    replyId: reply.id,
    doomedId: doomed.id,
    doomedReplyId: doomedReply.id,
  };
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
/** Ids: the route's real ones (by index, maybe upper-cased), random UUIDs, junk, traversal. */
type IdChoice = { real: number; upper: boolean } | { text: string };
const idChoices: fc.Arbitrary<IdChoice> = fc.oneof(
  fc.record({ real: fc.constantFrom(0, 1, 2), upper: fc.boolean() }),
  fc.record({ text: fc.uuid() }),
  fc.record({ text: anyText }),
  fc.record({ text: fc.constantFrom("..", ".", "%00", "null", "0", "-1", " ", "") }),
);

function resolveId(choice: IdChoice, real: string[]): string {
  if ("text" in choice) return segment(choice.text);
  const id = real[choice.real] ?? real[0] ?? "";
  return choice.upper ? id.toUpperCase() : id;
}

const commentish = fc.record(
  {
    body: fc.oneof(anyText, fc.string({ maxLength: 2100 }), fc.integer(), fc.constant(null)),
    parentId: fc.oneof(fc.uuid(), anyText, fc.constant(null), fc.integer()),
    value: fc.oneof(fc.constantFrom("like", "dislike", "LIKE", ""), anyText),
    extra: fc.anything(),
  },
  { requiredKeys: [] },
);
/** Bodies: valid-looking records, any JSON value, or text that is not JSON at all. */
const bodies = fc.oneof(
  commentish.map((value) => JSON.stringify(value)),
  fc.jsonValue().map((value) => JSON.stringify(value)),
  anyText,
  fc.constantFrom("", "{", "[]", "null", '{"body":', "\u0000"),
);
const contentTypes = fc.constantFrom(
  "application/json",
  "application/json; charset=utf-8",
  "text/plain",
  "application/x-www-form-urlencoded",
  undefined,
);
const queries = fc
  .dictionary(fc.constantFrom("limit", "cursor", "since", "x"), fc.oneof(anyText, fc.integer().map(String)), {
    maxKeys: 3,
  })
  .map((params) => new URLSearchParams(params).toString());
/** Authorization: a valid token, none, or junk (printable ASCII: anything else is not a valid header). */
const tokens = fc.oneof(
  fc.constant<"valid" | undefined>("valid"),
  fc.constant(undefined),
  fc.string({ maxLength: 60 }),
  fc.constantFrom("Bearer", "Basic abc", "bearer.x.y.z"),
);

const routes = fc.constantFrom(
  { method: "PUT", path: (id: string) => `/v1/videos/${id}/reaction`, ids: () => [fx.videoId] },
  { method: "DELETE", path: (id: string) => `/v1/videos/${id}/reaction`, ids: () => [fx.videoId] },
  { method: "POST", path: (id: string) => `/v1/videos/${id}/views`, ids: () => [fx.videoId] },
  { method: "POST", path: (id: string) => `/v1/videos/${id}/comments`, ids: () => [fx.videoId] },
  { method: "GET", path: (id: string) => `/v1/videos/${id}/comments`, ids: () => [fx.videoId] },
  {
    method: "GET",
    path: (id: string) => `/v1/comments/${id}/replies`,
    ids: () => [fx.commentId, fx.replyId, fx.videoId],
  },
  {
    method: "DELETE",
    path: (id: string) => `/v1/comments/${id}`,
    ids: () => [fx.doomedReplyId, fx.doomedId, fx.videoId],
  },
  { method: "GET", path: (id: string) => `/v1/videos/${id}`, ids: () => [fx.videoId] },
);

async function expectNoServerError(res: Response, what: string) {
  const text = await res.text();
  expect(res.status, `${what} → ${res.status} ${text}`).toBeLessThan(500);
  if (res.status >= 400) {
    expect(res.headers.get("content-type") ?? "", `${what} → ${text}`).toMatch(/^application\/json/);
    const parsed = ErrorEnvelope.safeParse(JSON.parse(text));
    expect(parsed.success, `${what} → ${text}`).toBe(true);
  }
}

describe("engagement routes under random input", () => {
  it("never answer 5xx, and answer every error with the envelope", async () => {
    await fc.assert(
      fc.asyncProperty(
        routes,
        idChoices,
        bodies,
        contentTypes,
        queries,
        tokens,
        async (route, idChoice, body, contentType, query, token) => {
          const headers: Record<string, string> = {};
          if (token !== undefined) headers.authorization = token === "valid" ? `Bearer ${fx.token}` : token;
          if (contentType) headers["content-type"] = contentType;
          const path = `${route.path(resolveId(idChoice, route.ids()))}${query ? `?${query}` : ""}`;
          const res = await edgeFetch(path, {
            method: route.method,
            headers,
            body: route.method === "GET" ? undefined : body,
          });
          await expectNoServerError(res, `${route.method} ${path} ${JSON.stringify(body).slice(0, 200)}`);
        },
      ),
      { numRuns: 150 },
    );
  }, 120_000);

  it("answer structurally valid but random comment bodies with 201 or a 400 envelope", async () => {
    await fc.assert(
      fc.asyncProperty(commentish, fc.boolean(), async (value, replyToComment) => {
        const body =
          replyToComment && typeof value === "object" ? { ...value, parentId: fx.commentId } : value;
        const res = await edgeFetch(`/v1/videos/${fx.videoId}/comments`, {
          method: "POST",
          headers: { authorization: `Bearer ${fx.token}`, "content-type": "application/json" },
          body: JSON.stringify(body),
        });
        expect([201, 400]).toContain(res.status);
        await expectNoServerError(res, JSON.stringify(body).slice(0, 200));
      }),
      { numRuns: 100 },
    );
  }, 120_000);

  it("answer random list queries with a page or a 400 envelope", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(
          () => `/v1/videos/${fx.videoId}/comments`,
          () => `/v1/comments/${fx.commentId}/replies`,
        ),
        queries,
        async (path, query) => {
          const res = await edgeFetch(`${path()}?${query}`);
          expect([200, 400]).toContain(res.status);
          await expectNoServerError(res, `${path()}?${query}`);
        },
      ),
      { numRuns: 100 },
    );
  }, 120_000);
});
