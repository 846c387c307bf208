import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import {
  contentTypeFor,
  DOWNLOAD_FILE,
  DOWNLOAD_PATH,
  DownloadTicket,
  outputPrefix,
} from "@streamlet/shared";
import { optionalUser } from "../auth/optional-user.ts";
import type { VideoRow } from "../db/schema.ts";
import type { AppEnv } from "../env.ts";
import { HttpError, notFound } from "../errors.ts";
import { idParam, idParams } from "../ids.ts";
import { errors, json, named, userSecurity } from "../openapi.ts";
import { parseRange } from "../play/range.ts";
import { assetHeaders, respondFromFull } from "../play/respond.ts";
import { Storage } from "../storage.ts";
import { canRead, videoById } from "./access.ts";
import { attachmentDisposition, downloadFileName } from "./download-name.ts";
import {
  DOWNLOAD_TOKEN_SECONDS,
  type DownloadGrant,
  nowSeconds,
  signDownloadToken,
  verifyDownloadToken,
} from "./download-token.ts";
import { baseUrlOf } from "./serialize.ts";

const DownloadTicketSchema = named(DownloadTicket, "DownloadTicket");

// Downloads are big and every URL is someone's: never kept by a shared cache, the edge's included.
const CACHE_CONTROL = "private, max-age=0";

const downloadsDisabled = () =>
  new HttpError(403, "downloads_disabled", "the owner has turned downloads of this video off");
const downloadNotFound = () => new HttpError(404, "not_found", "download not found");

const requestDownload = createRoute({
  method: "get",
  path: "/videos/{id}/download",
  tags: ["videos"],
  summary:
    "A short-lived URL of the video's MP4 (for whoever may watch it, while its owner allows downloads)",
  description:
    `\`url\` (on the edge, valid for ${DOWNLOAD_TOKEN_SECONDS / 60} minutes) answers the progressive MP4 as an ` +
    "attachment, with Range. Anonymous callers may omit Authorization for public and unlisted videos; a " +
    "private video is its owner's alone (404 for everyone else). The owner may download even with " +
    "downloads turned off. A URL handed out stops working when the owner turns downloads off or makes the " +
    "video private.",
  security: [{}, ...userSecurity],
  middleware: [optionalUser()] as const,
  request: { params: idParams() },
  responses: {
    200: json(DownloadTicketSchema, "Where to download the MP4"),
    ...errors({
      401: "An access token was sent but is invalid or expired",
      403: "downloads_disabled: the owner has turned downloads of this video off",
      404: "not_found: no such video (or not yours, if private); no_download: the video has no MP4",
      409: "not_ready: the video is not ready yet",
    }),
  },
});

const serveDownload = createRoute({
  method: "get",
  path: "/download/{id}/{token}/{fileName}",
  tags: ["videos"],
  summary: "The MP4 of a video (also HEAD): the `url` GET /v1/videos/{id}/download answers",
  description:
    "Content-Disposition: attachment, named after the video's title. Supports single byte ranges " +
    "(206/416) and If-None-Match (304); never cached by the edge or shared caches. Checked again on " +
    "every request: 404 once the token expired or the video is gone (or turned private, for anyone but " +
    "the owner), 403 downloads_disabled once the owner turned downloads off.",
  request: {
    params: z.object({
      id: idParam(),
      token: z.string().openapi({ param: { name: "token", in: "path" } }),
      fileName: z.string().openapi({ param: { name: "fileName", in: "path" }, example: "my video.mp4" }),
    }),
    headers: z.object({ range: z.string().optional().openapi({ example: "bytes=0-1048575" }) }),
  },
  responses: {
    200: {
      description: "The whole file",
      content: { "video/mp4": { schema: z.string().openapi({ format: "binary" }) } },
    },
    206: { description: "The requested byte range" },
    304: { description: "Not modified (If-None-Match)" },
    ...errors({
      403: "downloads_disabled: the owner has turned downloads of this video off since",
      404: "Unknown, expired or forged token, or the video is gone or no longer yours to download",
      416: "range_not_satisfiable",
      503: "storage_unavailable: retry",
    }),
  },
});

/** The video's download, or the reason it may not be had; `grant` says whom the URL is (to be) handed. */
function checkDownload(row: VideoRow, grant: DownloadGrant): { bytes: number } {
  if (row.status !== "ready") throw new HttpError(409, "not_ready", `the video is ${row.status}`);
  if (grant !== "owner" && !row.downloadsEnabled) throw downloadsDisabled();
  const download = row.assets?.download;
  if (!download) throw new HttpError(404, "no_download", "this video has no download");
  return { bytes: download.bytes };
}

/**
 * MP4 downloads: GET /v1/videos/:id/download answers a short-lived signed URL on the edge, and
 * /v1/download/:id/:token/:fileName streams the file from storage (the play route never serves it).
 */
export const downloadRoutes = new OpenAPIHono<AppEnv>()
  .openapi(requestDownload, async (c) => {
    const { id } = c.req.valid("param");
    const { db, config, callerId } = c.var;
    const row = await videoById(db, id);
    if (!row || !canRead(row, callerId)) throw notFound();
    const grant: DownloadGrant = callerId === row.ownerId ? "owner" : "viewer";
    const { bytes } = checkDownload(row, grant);
    const exp = nowSeconds() + DOWNLOAD_TOKEN_SECONDS;
    const token = await signDownloadToken(row.id, grant, config.jwtSecret, exp);
    const fileName = downloadFileName(row.title);
    const base = baseUrlOf(config.publicBaseUrl, c.req.url);
    return c.json(
      {
        url: `${base}/v1/download/${row.id}/${token}/${encodeURIComponent(fileName)}`,
        expiresAt: new Date(exp * 1000).toISOString(),
        bytes,
        fileName,
      },
      200,
    );
  })
  // Hono answers HEAD through GET routes and drops the body.
  .openapi(serveDownload, async (c) => {
    const { id, token } = c.req.valid("param");
    const { db, config } = c.var;
    const grant = await verifyDownloadToken(token, id, config.jwtSecret);
    if (grant === null) throw downloadNotFound();
    // Checked on every request, not when the URL was handed out: the owner's later choices win.
    const row = await videoById(db, id);
    if (!row || (grant !== "owner" && !canRead(row, null))) throw downloadNotFound();
    let bytes: number;
    try {
      ({ bytes } = checkDownload(row, grant));
    } catch (error) {
      if (error instanceof HttpError && error.status === 403) throw error;
      throw downloadNotFound();
    }

    const key = `${outputPrefix(id)}${DOWNLOAD_PATH}`;
    const storage = new Storage(config.s3);
    const unavailable = (error: unknown): never => {
      console.error(`download: reading ${key} failed (request ${c.var.requestId}):`, error);
      throw new HttpError(503, "storage_unavailable", "video storage is unavailable; try again");
    };
    const missing = (): never => {
      console.error(`download: ${key} is missing in storage for video ${id} (request ${c.var.requestId})`);
      throw downloadNotFound();
    };
    const respond = (object: Response, status: 200 | 206) => {
      const headers = assetHeaders(contentTypeFor(DOWNLOAD_FILE), CACHE_CONTROL, object.headers);
      headers.set("content-disposition", attachmentDisposition(downloadFileName(row.title)));
      if (status === 206) headers.set("content-range", object.headers.get("content-range") ?? "");
      return new Response(object.body, { status, headers });
    };

    // A resumed download reads only what it asks for from storage.
    const ranged = rangedRead(c.req.raw, bytes);
    if (ranged !== null) {
      const part = await storage.getRange(key, ranged.range).catch(unavailable);
      if (part === null) missing();
      if (part instanceof Response) {
        if (ranged.ifRange === undefined || part.headers.get("etag") === ranged.ifRange) {
          return respond(part, 206);
        }
        await part.body?.cancel();
      }
      // The If-Range validator no longer holds, or the file is not the size we know: the whole of it,
      // where respondFromFull applies Range and If-Range to what storage has now.
    }
    const object = (await storage.get(key).catch(unavailable)) ?? missing();
    return respondFromFull(c.req.raw, respond(object, 200));
  });

/**
 * The range a GET asks for, when storage can answer it alone: a single satisfiable byte range of the
 * file's known size, no If-None-Match (answered from the whole object's ETag), and an If-Range only as a
 * strong ETag (compared with the ETag of storage's answer). Otherwise null: the whole object, and
 * respondFromFull.
 */
function rangedRead(
  request: Request,
  size: number,
): { range: { start: number; end: number }; ifRange?: string } | null {
  if (request.method !== "GET" || request.headers.has("if-none-match")) return null;
  const range = parseRange(request.headers.get("range"), size);
  if (range.kind !== "partial") return null;
  const ifRange = request.headers.get("if-range");
  if (ifRange === null) return { range };
  if (!ifRange.startsWith('"')) return null; // a date, or a weak ETag (never matches for ranges)
  return { range, ifRange };
}
