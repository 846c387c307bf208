import { OpenAPIHono, z } from "@hono/zod-openapi";
import {
  canonicalId,
  INIT_SEGMENT,
  MASTER_PLAYLIST,
  outputPrefix,
  POSTER,
  segmentName,
  VARIANT_PLAYLIST,
} from "@streamlet/shared";
import type { AppEnv } from "../env.ts";
import { HttpError } from "../errors.ts";
import { waitUntil } from "../middleware.ts";
import { ErrorSchema } from "../openapi.ts";
import { Storage } from "../storage.ts";
import { cacheControlFor, growingAsset, parseAssetPath } from "./asset.ts";
import { assetCacheKey } from "./cache-key.ts";
import { videoCacheTag } from "./cache-tag.ts";
import { assetHeaders, respondFromFull } from "./respond.ts";
import { playbackState } from "./state.ts";
import { verifyPlaybackToken } from "./token.ts";

const fileNotFound = () => new HttpError(404, "not_found", "file not found");

// `t/<token>/<asset>`: the signed form private videos need (the token in the path, so relative URIs in
// the playlists keep it).
const TOKEN_PREFIX = /^t\/([^/]{1,80})\/(.+)$/;

/**
 * /v1/play: HLS playlists, segments and posters of playable videos (ready, or still processing once its
 * first segments are stored: growing playlists on a short TTL), through the edge cache.
 */
export const playRoutes = new OpenAPIHono<AppEnv>();

playRoutes.openAPIRegistry.registerPath({
  method: "get",
  path: "/{id}/{asset}",
  tags: ["playback"],
  summary:
    `HLS delivery (also HEAD): ${MASTER_PLAYLIST}, <rung>/${VARIANT_PLAYLIST}, <rung>/${INIT_SEGMENT}, ` +
    `<rung>/seg_N.m4s, ${POSTER}`,
  description:
    `\`asset\` may contain one folder (e.g. \`720p/${segmentName(1)}\`). Supports single byte ranges (206/416), ` +
    "If-None-Match (304) and CORS. Served from the edge cache when present. Private videos are served " +
    "only below `/v1/play/{id}/t/{token}/{asset}` with the token from the owner's GET /v1/videos/{id} " +
    "(404 without a valid one); public and unlisted videos answer both forms. A video still processing is " +
    "served once it is playable (`playableAt`): its playlists then grow (EVENT) and carry " +
    "`Cache-Control: max-age=1` until it is ready; segments and init sections are immutable from the start.",
  request: {
    params: z.object({
      id: z.string().openapi({ param: { name: "id", in: "path" }, format: "uuid" }),
      asset: z.string().openapi({ param: { name: "asset", in: "path" }, example: MASTER_PLAYLIST }),
    }),
    headers: z.object({ range: z.string().optional().openapi({ example: "bytes=0-1023" }) }),
  },
  responses: {
    200: { description: "The whole file" },
    206: { description: "The requested byte range" },
    304: { description: "Not modified (If-None-Match)" },
    404: {
      description: "Unknown video, video not playable yet, or not an allowed file",
      content: { "application/json": { schema: ErrorSchema } },
    },
    416: { description: "Range not satisfiable", content: { "application/json": { schema: ErrorSchema } } },
    503: {
      description: "Storage unavailable (storage_unavailable); retry",
      content: { "application/json": { schema: ErrorSchema } },
    },
  },
});

// Hono answers HEAD through GET routes and drops the body.
playRoutes.get("/:id/*", async (c) => {
  const rawId = c.req.param("id");
  const id = canonicalId(rawId);
  if (id === null) throw fileNotFound();
  const url = new URL(c.req.url);
  const marker = `/${rawId}/`;
  let rest = url.pathname.slice(url.pathname.indexOf(marker) + marker.length);
  const signed = TOKEN_PREFIX.exec(rest);
  const token = signed?.[1] ?? null;
  if (signed?.[2]) rest = signed[2];
  const asset = parseAssetPath(rest);
  if (!asset) throw fileNotFound();
  const secret = c.var.config.jwtSecret;

  // Who may play it and which cache generation is current: from a briefly cached state (state.ts),
  // checked on every request, so a cached asset never outlives a visibility change or a delete by more
  // than the state's TTL, even in a data centre no purge reached.
  const state = await playbackState(c.var.config, c.var.db, id, (promise) => waitUntil(c, promise));
  const mayPlay =
    state !== null &&
    (state.visibility !== "private" || (token !== null && (await verifyPlaybackToken(token, id, secret))));
  if (!state || !mayPlay) throw fileNotFound();

  // Cache key: one per asset and generation on one canonical origin (whatever the request's host),
  // without the token, query string, Range or conditional headers, so the cache always holds (and
  // returns) the complete 200 and Range is applied by respondFromFull; a purge then reaches every copy.
  // A growing playlist has keys of its own (cache-key.ts), so the final one never meets a stale copy of it.
  const growing = growingAsset(asset, state.live);
  const cacheKey = assetCacheKey(c.var.config, id, state.generation, asset.path, growing);
  const cache = caches.default;
  const cached = await cache.match(cacheKey);
  if (cached) return respondFromFull(c.req.raw, forClient(cached, state.visibility));

  const key = `${outputPrefix(id)}${asset.path}`;
  const object = await new Storage(c.var.config.s3).get(key).catch((error: unknown) => {
    // Storage down or unreachable: the viewer may retry, and this must not read as our own fault.
    console.error(`play: reading ${key} failed (request ${c.var.requestId}):`, error);
    throw new HttpError(503, "storage_unavailable", "video storage is unavailable; try again");
  });
  if (!object) {
    // A live video's files appear as the transcoder publishes them; a ready video's should all be there.
    const log = state.live ? console.warn : console.error;
    log(`play: ${key} is missing in storage for video ${id} (request ${c.var.requestId})`);
    throw fileNotFound();
  }
  const headers = assetHeaders(asset.contentType, cacheControlFor(asset, state.live), object.headers);
  // Lets one purge-by-tag call drop every asset of the video in every data centre (purge.ts).
  headers.set("cache-tag", videoCacheTag(id));
  if (object.body === null) {
    return respondFromFull(c.req.raw, forClient(new Response(null, { headers }), state.visibility));
  }
  const [cacheBody, clientBody] = object.body.tee();
  waitUntil(
    c,
    cache
      .put(cacheKey, new Response(cacheBody, { status: 200, headers }))
      .catch((error: unknown) => console.error(`play: cache.put ${key} failed:`, error)),
  );
  return respondFromFull(
    c.req.raw,
    forClient(new Response(clientBody, { status: 200, headers }), state.visibility),
  );
});

/**
 * The response as a client gets it: without the internal cache-tag header, and for a private video
 * `Cache-Control: private`, so no shared cache keeps a copy under the signed URL.
 */
function forClient(response: Response, visibility: string): Response {
  const headers = new Headers(response.headers);
  headers.delete("cache-tag");
  if (visibility === "private") {
    headers.set("cache-control", (headers.get("cache-control") ?? "").replace(/^public\b/, "private"));
  }
  return new Response(response.body, { status: response.status, headers });
}
