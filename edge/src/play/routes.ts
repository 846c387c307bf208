import { OpenAPIHono, z } from "@hono/zod-openapi";
import {
  canonicalId,
  DASH_MANIFEST,
  INIT_SEGMENT,
  MASTER_PLAYLIST,
  outputPrefix,
  POSTER,
  segmentName,
  VARIANT_PLAYLIST,
} from "@streamlet/shared";
import type { Context } from "hono";
import {
  captionFileLanguage,
  subtitlePlaylist,
  subtitlePlaylistLanguage,
  withSubtitleGroup,
  withTextAdaptationSets,
} from "../captions/manifests.ts";
import type { AppEnv } from "../env.ts";
import { HttpError } from "../errors.ts";
import { waitUntil } from "../middleware.ts";
import { ErrorSchema } from "../openapi.ts";
import { Storage } from "../storage.ts";
import { cacheControlFor, growingAsset, type PlayAsset, parseAssetPath } from "./asset.ts";
import { assetCacheKey } from "./cache-key.ts";
import { videoCacheTag } from "./cache-tag.ts";
import { assetHeaders, respondFromFull } from "./respond.ts";
import { readThroughShield } from "./shield-read.ts";
import { fillOnce, OriginTimeoutError } from "./single-flight.ts";
import { type PlaybackState, playbackState } from "./state.ts";
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
    `<rung>/seg_N.m4s, ${POSTER}, ${DASH_MANIFEST}, subtitles/<language>.vtt and subtitles/<language>.m3u8`,
  description:
    `\`asset\` may contain one folder (e.g. \`720p/${segmentName(1)}\`). Supports single byte ranges (206/416), ` +
    "If-None-Match (304) and CORS. Served from the edge cache when present. Private videos are served " +
    "only below `/v1/play/{id}/t/{token}/{asset}` with the token from the owner's GET /v1/videos/{id} " +
    "(404 without a valid one); public and unlisted videos answer both forms. A video still processing is " +
    "served once it is playable (`playableAt`): its playlists then grow (EVENT) and carry " +
    "`Cache-Control: max-age=1` until it is ready; segments and init sections are immutable from the start. " +
    "Caption tracks (PUT /v1/videos/{id}/captions/{language}) are written into the served master playlist " +
    '(a SUBTITLES group "subs" once the video is ready) and DASH manifest (text adaptation sets); ' +
    "`subtitles/<language>.m3u8` is generated: the WebVTT file as one segment spanning the video.",
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
  // What is cached is what is served: the master playlist and DASH manifest with the caption tracks of
  // this generation (a caption change starts a new one), and the generated subtitle playlists.
  const growing = growingAsset(asset, state.live);
  const cacheKey = assetCacheKey(c.var.config, id, state.generation, asset.path, growing);
  const cache = caches.default;
  const cached = await cache.match(cacheKey);
  if (cached) return respondFromFull(c.req.raw, forClient(cached, state.visibility));

  // Concurrent misses of this asset in this isolate share one production (one storage read), which also
  // fills the cache; each request gets a complete 200 of its own, or the same error (single-flight.ts).
  // That read goes through the data centre's origin shield of the video (origin-shield.ts), which shares
  // it with the other isolates' reads of the same file.
  const read = storageReader(c, id);
  const full = await fillOnce(
    cacheKey,
    async () => {
      const produced = await produceAsset(read, id, asset, state, c.var.requestId);
      // Lets one purge-by-tag call drop every asset of the video in every data centre (purge.ts).
      produced.headers.set("cache-tag", videoCacheTag(id));
      return produced;
    },
    { cache, waitUntil: (promise) => waitUntil(c, promise), coalesce: c.var.config.originCoalescing.isolate },
  ).catch((error: unknown) => {
    if (!(error instanceof OriginTimeoutError)) throw error;
    // Another request's storage read is hung: this viewer may retry, as for any storage failure.
    console.error(`play: waiting for ${asset.path} of ${id} timed out (request ${c.var.requestId})`);
    throw new HttpError(503, "storage_unavailable", "video storage is unavailable; try again");
  });
  if (full === null) throw fileNotFound();
  return respondFromFull(c.req.raw, forClient(full, state.visibility));
});

/**
 * The complete 200 for an asset on a cache miss: a subtitle playlist generated from the state, a caption
 * file only while its track exists, the master playlist and DASH manifest with the caption tracks written
 * in (a new ETag for the new body), anything else as storage has it.
 */
async function produceAsset(
  read: StorageReader,
  id: string,
  asset: PlayAsset,
  state: PlaybackState,
  requestId: string,
): Promise<Response> {
  const cacheControl = cacheControlFor(asset, state.live);
  const playlistLanguage = subtitlePlaylistLanguage(asset.path);
  if (playlistLanguage !== null) {
    // Not in storage: the whole caption file as one segment spanning the (finished) video.
    if (state.live || state.durationSeconds === null || !hasTrack(state, playlistLanguage))
      throw fileNotFound();
    const text = subtitlePlaylist(playlistLanguage, state.durationSeconds);
    return textResponse(text, assetHeaders(asset.contentType, cacheControl, new Headers()));
  }
  const captionLanguage = captionFileLanguage(asset.path);
  if (captionLanguage !== null && !hasTrack(state, captionLanguage)) throw fileNotFound();

  const stored = await readStored(read, `${outputPrefix(id)}${asset.path}`, state.live, requestId);
  const headers = assetHeaders(asset.contentType, cacheControl, stored.headers);
  const rewrite = captionRewrite(asset, state);
  if (rewrite === null) return new Response(stored.body, { status: 200, headers });
  headers.delete("content-length");
  headers.delete("etag");
  return textResponse(rewrite(await stored.text()), headers);
}

/** Reads one stored object: the whole of it, or null when it is missing; throws when storage fails. */
type StorageReader = (key: string) => Promise<Response | null>;

/**
 * Where this request's storage reads go: the origin shield of the video in this data centre (request.cf
 * names it; wrangler dev has no colo: "local"), or storage itself when ORIGIN_COALESCING leaves it out.
 */
function storageReader(c: Context<AppEnv>, id: string): StorageReader {
  const config = c.var.config;
  if (!config.originCoalescing.shield) return (key) => new Storage(config.s3).get(key);
  const colo = (c.req.raw.cf as { colo?: unknown } | undefined)?.colo;
  const dataCentre = typeof colo === "string" && colo !== "" ? colo : "local";
  return (key) => readThroughShield(c.env.ORIGIN_SHIELD, dataCentre, id, key);
}

/**
 * One object read from storage: its response, 404 when it is missing, 503 when storage fails. The one
 * place delivery reads storage (request coalescing wraps it).
 */
async function readStored(read: StorageReader, key: string, live: boolean, requestId: string) {
  const object = await read(key).catch((error: unknown) => {
    // Storage down or unreachable: the viewer may retry, and this must not read as our own fault.
    console.error(`play: reading ${key} failed (request ${requestId}):`, error);
    throw new HttpError(503, "storage_unavailable", "video storage is unavailable; try again");
  });
  if (!object) {
    // A live video's files appear as the transcoder publishes them; a ready video's should all be there.
    const log = live ? console.warn : console.error;
    log(`play: ${key} is missing in storage (request ${requestId})`);
    throw fileNotFound();
  }
  return object;
}

const hasTrack = (state: PlaybackState, language: string) =>
  state.captions.some((track) => track.language === language);

/**
 * How the caption tracks change this asset's text, or null when they do not: the master playlist of a
 * finished video (SUBTITLES group; a live one's stays as published) and the DASH manifest.
 */
function captionRewrite(asset: PlayAsset, state: PlaybackState): ((text: string) => string) | null {
  if (state.captions.length === 0) return null;
  if (asset.path === MASTER_PLAYLIST && !state.live && state.durationSeconds !== null) {
    return (text) => withSubtitleGroup(text, state.captions);
  }
  if (asset.path === DASH_MANIFEST) return (text) => withTextAdaptationSets(text, state.captions);
  return null;
}

/** A body built here, with its length and an ETag of its own (a hash of the bytes). */
async function textResponse(text: string, headers: Headers): Promise<Response> {
  const bytes = new TextEncoder().encode(text);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const hex = [...digest.slice(0, 16)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
  headers.set("content-length", String(bytes.byteLength));
  headers.set("etag", `"${hex}"`);
  return new Response(bytes, { status: 200, headers });
}

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
