import { OpenAPIHono, z } from "@hono/zod-openapi";
import { videoKeys } from "@streamlet/shared";
import { eq } from "drizzle-orm";
import { videos } from "../db/schema.ts";
import type { AppEnv } from "../env.ts";
import { HttpError } from "../errors.ts";
import { waitUntil } from "../middleware.ts";
import { ErrorSchema } from "../openapi.ts";
import { Storage } from "../storage.ts";
import { isUuid } from "../videos/serialize.ts";
import { parseAssetPath } from "./asset.ts";
import { assetHeaders, respondFromFull } from "./respond.ts";

const fileNotFound = () => new HttpError(404, "not_found", "file not found");

/** /v1/play: HLS playlists, segments and posters of ready videos, through the edge cache. */
export const playRoutes = new OpenAPIHono<AppEnv>();

playRoutes.openAPIRegistry.registerPath({
  method: "get",
  path: "/{id}/{asset}",
  tags: ["playback"],
  summary:
    "HLS delivery (also HEAD): master.m3u8, <rung>/index.m3u8, <rung>/init.mp4, <rung>/seg_N.m4s, poster.jpg",
  description:
    "`asset` may contain one folder (e.g. `720p/seg_00001.m4s`). Supports single byte ranges (206/416), " +
    "If-None-Match (304) and CORS. Served from the edge cache when present.",
  request: {
    params: z.object({
      id: z.string().openapi({ param: { name: "id", in: "path" }, format: "uuid" }),
      asset: z.string().openapi({ param: { name: "asset", in: "path" }, example: "master.m3u8" }),
    }),
    headers: z.object({ range: z.string().optional().openapi({ example: "bytes=0-1023" }) }),
  },
  responses: {
    200: { description: "The whole file" },
    206: { description: "The requested byte range" },
    304: { description: "Not modified (If-None-Match)" },
    404: {
      description: "Unknown video, video not ready, or not an allowed file",
      content: { "application/json": { schema: ErrorSchema } },
    },
    416: { description: "Range not satisfiable", content: { "application/json": { schema: ErrorSchema } } },
  },
});

// Hono answers HEAD through GET routes and drops the body.
playRoutes.get("/:id/*", async (c) => {
  const id = c.req.param("id");
  if (!isUuid(id)) throw fileNotFound();
  const url = new URL(c.req.url);
  const marker = `/${id}/`;
  const asset = parseAssetPath(url.pathname.slice(url.pathname.indexOf(marker) + marker.length));
  if (!asset) throw fileNotFound();

  // Cache key: the normalized URL only; no query string, no Range or conditional headers, so the cache
  // always holds (and returns) the complete 200 and Range is applied by respondFromFull.
  const cacheKey = new Request(`${url.origin}${url.pathname}`, { method: "GET" });
  const cache = caches.default;
  const cached = await cache.match(cacheKey);
  if (cached) return respondFromFull(c.req.raw, cached);

  const [row] = await c.var.db
    .select({ status: videos.status })
    .from(videos)
    .where(eq(videos.id, id))
    .limit(1);
  if (row?.status !== "ready") throw fileNotFound();

  const key = `${videoKeys(id).outputPrefix}${asset.path}`;
  const object = await new Storage(c.var.config.s3).get(key);
  if (!object) {
    console.error(`play: ${key} is missing in storage for ready video ${id} (request ${c.var.requestId})`);
    throw fileNotFound();
  }
  const headers = assetHeaders(asset.contentType, asset.cacheControl, object.headers);
  if (object.body === null) return respondFromFull(c.req.raw, new Response(null, { headers }));
  const [forCache, forClient] = object.body.tee();
  waitUntil(
    c,
    cache
      .put(cacheKey, new Response(forCache, { status: 200, headers }))
      .catch((error: unknown) => console.error(`play: cache.put ${key} failed:`, error)),
  );
  return respondFromFull(c.req.raw, new Response(forClient, { status: 200, headers }));
});
