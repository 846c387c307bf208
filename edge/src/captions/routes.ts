import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { Caption, contentTypeFor, outputPrefix } from "@streamlet/shared";
import type { Context } from "hono";
import { optionalUser } from "../auth/optional-user.ts";
import { requireUser } from "../auth/require-user.ts";
import type { Config } from "../config.ts";
import type { VideoRow } from "../db/schema.ts";
import type { AppEnv } from "../env.ts";
import { HttpError, loggable, notFound } from "../errors.ts";
import { idParam } from "../ids.ts";
import { waitUntil } from "../middleware.ts";
import { errors, json, named, userSecurity } from "../openapi.ts";
import { stateCacheKey } from "../play/cache-key.ts";
import { isPlayable } from "../play/playable.ts";
import { purgeVideoCache } from "../play/purge.ts";
import { playbackTokenFor } from "../play/token.ts";
import { spendQuota } from "../rate-limit/user-quotas.ts";
import { Storage } from "../storage.ts";
import { canRead, ownedVideo, videoById } from "../videos/access.ts";
import { baseUrlOf } from "../videos/serialize.ts";
import { InvalidCaptions, MAX_CUE_SECONDS, toWebVtt } from "./convert.ts";
import { canonicalLanguage, defaultLabel, labelProblem, MAX_LABEL_LENGTH } from "./language.ts";
import { captionFileLanguage, subtitlePlaylistPath } from "./manifests.ts";
import { captionJson } from "./serialize.ts";
import { bumpCacheGeneration, captionKey, captionsByVideo, deleteCaption, upsertCaption } from "./store.ts";

/**
 * Largest caption file accepted (a feature film's subtitles are ~100 KB). Note: app.ts's limitBody on
 * /v1/* (64 KiB by default) refuses larger bodies first unless it lets this route through with this limit.
 */
export const MAX_CAPTION_BYTES = 512 * 1024;

/**
 * Whether a request is a caption upload (PUT /v1/videos/<id>/captions/<language>): the one /v1 body that
 * may be larger than limitBody's default, up to MAX_CAPTION_BYTES (for app.ts's body limit).
 */
export function isCaptionUpload(method: string, path: string): boolean {
  return method === "PUT" && /^\/v1\/videos\/[^/]+\/captions\/[^/]+$/.test(path);
}

/** Content types a caption upload may be sent as (the format is read from the content itself). */
export const CAPTION_UPLOAD_TYPES = ["text/vtt", "application/x-subrip", "text/plain"] as const;

const CaptionSchema = named(Caption, "Caption");
const CaptionListSchema = z.object({ captions: z.array(CaptionSchema) }).openapi("CaptionList");

const LanguageParam = z.string().openapi({
  param: { name: "language", in: "path" },
  description: "BCP 47 language tag (any case; answered in canonical case, e.g. pt-BR)",
  example: "en",
});
const TrackParams = z.object({ id: idParam(), language: LanguageParam });

const LabelQuery = z.object({
  label: z
    .string()
    .superRefine((label, ctx) => {
      const problem = labelProblem(label);
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    })
    .optional()
    .openapi({
      description: `What players show in their captions menu (at most ${MAX_LABEL_LENGTH} characters, no double quote or line break); default: the language's English name`,
      example: "English",
    }),
});

const CAPTIONS_QUOTA =
  "rate_limited: too many caption changes (RATE_LIMIT_CAPTIONS per user); retry after Retry-After seconds";

const putCaption = createRoute({
  method: "put",
  path: "/{id}/captions/{language}",
  tags: ["captions"],
  summary: "Upload or replace your video's captions or subtitles for one language (WebVTT or SRT)",
  description:
    "The body is the caption file itself, UTF-8 (a BOM and CRLF line endings are fine), sent as " +
    `${CAPTION_UPLOAD_TYPES.join(", ")}; WebVTT is recognised by its WEBVTT header, SRT by its numbered cues ` +
    "(converted to WebVTT: timestamps with dots, <i>/<b>/<u> kept, <font> and other tags dropped). Every " +
    `cue must end after it starts and within ${MAX_CUE_SECONDS / 3600} hours. At most ${MAX_CAPTION_BYTES} bytes. Works in any ` +
    "status of the video. The track appears in the video's JSON, in the master playlist's SUBTITLES group " +
    "and the DASH manifest at once (their cached copies are replaced).",
  security: userSecurity,
  middleware: [requireUser()] as const,
  request: {
    params: TrackParams,
    query: LabelQuery,
    body: {
      required: true,
      content: Object.fromEntries(
        CAPTION_UPLOAD_TYPES.map((type) => [type, { schema: z.string().openapi({ format: "binary" }) }]),
      ),
    },
  },
  responses: {
    200: json(CaptionSchema, "Replaced"),
    201: json(CaptionSchema, "Created"),
    ...errors({
      400:
        "invalid_captions: not WebVTT or SRT, or a line is wrong (the message says which and why); " +
        "invalid_request: not a language tag, or a bad label",
      401: "Not signed in",
      404: "No such video, or not yours",
      413: `payload_too_large: the file is larger than ${MAX_CAPTION_BYTES} bytes`,
      415: `unsupported_media_type: not sent as ${CAPTION_UPLOAD_TYPES.join(", ")}`,
      429: CAPTIONS_QUOTA,
      503: "storage_unavailable",
    }),
  },
});

const deleteCaptionRoute = createRoute({
  method: "delete",
  path: "/{id}/captions/{language}",
  tags: ["captions"],
  summary: "Delete your video's captions for one language",
  security: userSecurity,
  middleware: [requireUser()] as const,
  request: { params: TrackParams },
  responses: {
    204: { description: "Deleted; gone from the playlists and manifest at once" },
    ...errors({
      400: "invalid_request: not a language tag",
      401: "Not signed in",
      404: "No such video, not yours, or no captions in that language",
      429: CAPTIONS_QUOTA,
      503: "storage_unavailable",
    }),
  },
});

const listCaptions = createRoute({
  method: "get",
  path: "/{id}/captions",
  tags: ["captions"],
  summary: "A video's caption tracks, by language (for whoever may see the video)",
  description:
    "URLs of a private video (its owner only) are below the signed `/v1/play/{id}/t/{token}/` prefix once " +
    "the video is playable.",
  security: [{}, ...userSecurity],
  middleware: [optionalUser()] as const,
  request: { params: z.object({ id: idParam() }) },
  responses: {
    200: json(CaptionListSchema, "The tracks, sorted by language"),
    ...errors({ 401: "An access token was sent but is invalid or expired", 404: "No such video" }),
  },
});

/** The language path parameter in canonical form, or 400. */
function languageOf(raw: string): string {
  const language = canonicalLanguage(raw);
  if (language === null) {
    throw new HttpError(
      400,
      "invalid_request",
      "language: must be a BCP 47 language tag such as en or pt-BR",
    );
  }
  return language;
}

/** The caption file of a PUT: a caption content type, within the size limit, as bytes. */
async function uploadedBytes(c: Context): Promise<Uint8Array> {
  const type = (c.req.header("content-type") ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  if (!(CAPTION_UPLOAD_TYPES as readonly string[]).includes(type)) {
    throw new HttpError(
      415,
      "unsupported_media_type",
      `send the caption file as ${CAPTION_UPLOAD_TYPES.join(", ")}`,
    );
  }
  const tooLarge = () =>
    new HttpError(413, "payload_too_large", `a caption file must be at most ${MAX_CAPTION_BYTES} bytes`);
  const declared = Number(c.req.header("content-length") ?? Number.NaN);
  if (declared > MAX_CAPTION_BYTES) throw tooLarge();
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  if (bytes.byteLength > MAX_CAPTION_BYTES) throw tooLarge();
  return bytes;
}

/**
 * After a track changed: a new cache generation (the master playlist and manifest list the tracks), this
 * data centre's cached playback state dropped at once (so the next request reads the new generation and
 * tracks), and the old generation's copies purged here and everywhere in the background.
 */
async function republish(context: Context, row: VideoRow, language: string): Promise<void> {
  // Any route's context (theirs add variables to AppEnv's).
  const c = context as unknown as Context<AppEnv>;
  const { db, config } = c.var;
  const previous = await bumpCacheGeneration(db, row.id);
  if (previous === null || !isPlayable(row)) return;
  await caches.default
    .delete(stateCacheKey(config, row.id))
    .catch((error: unknown) => console.error(`captions: dropping the state of ${row.id} failed:`, error));
  waitUntil(c, purgeGeneration(config, row.id, previous, language));
}

/**
 * Drops a video's cached copies of one generation, the generated subtitle playlists (not in storage)
 * included; failures are logged, never thrown.
 */
async function purgeGeneration(config: Config, id: string, generation: number, changed: string) {
  try {
    const prefix = outputPrefix(id);
    const stored = await new Storage(config.s3).listKeys(prefix);
    const languages = new Set([changed]);
    for (const key of stored) {
      const language = captionFileLanguage(key.slice(prefix.length));
      if (language !== null) languages.add(language);
    }
    const playlists = [...languages].map((language) => `${prefix}${subtitlePlaylistPath(language)}`);
    await purgeVideoCache(config, id, generation, [...stored, ...playlists]);
  } catch (error) {
    console.error(`purging cached assets of ${id} failed:`, loggable(error));
  }
}

const storageFailed = (what: string, key: string, error: unknown) => {
  console.error(`captions: ${what} ${key} failed:`, error);
  return new HttpError(503, "storage_unavailable", "video storage is unavailable; try again");
};

/** /v1/videos/:id/captions: the owner uploads, replaces and deletes tracks; readers list them. */
export const captionRoutes = new OpenAPIHono<AppEnv>()
  .openapi(putCaption, async (c) => {
    const { id, language: rawLanguage } = c.req.valid("param");
    const { label: askedLabel } = c.req.valid("query");
    const { db, config } = c.var;
    const row = await ownedVideo(db, id, c.var.userId);
    const language = languageOf(rawLanguage);
    const bytes = await uploadedBytes(c);
    let vtt: string;
    try {
      vtt = toWebVtt(bytes).vtt;
    } catch (error) {
      if (error instanceof InvalidCaptions) throw new HttpError(400, "invalid_captions", error.message);
      throw error;
    }
    const label = askedLabel?.trim() ?? defaultLabel(language);
    // Spent once the file is valid: every change stores a file, starts a cache generation and purges.
    await spendQuota(c, "captions", c.var.userId);
    const key = captionKey(id, language);
    const body = new TextEncoder().encode(vtt) as Uint8Array<ArrayBuffer>;
    await new Storage(config.s3).put(key, body, contentTypeFor(key)).catch((error: unknown) => {
      throw storageFailed("storing", key, error);
    });
    const { created } = await upsertCaption(db, id, { language, label, bytes: body.byteLength });
    await republish(c, row, language);
    const token = await playbackTokenFor(row, config.jwtSecret);
    const caption = captionJson({ language, label }, id, baseUrlOf(config.publicBaseUrl, c.req.url), token);
    return created ? c.json(caption, 201) : c.json(caption, 200);
  })
  .openapi(deleteCaptionRoute, async (c) => {
    const { id, language: rawLanguage } = c.req.valid("param");
    const { db, config } = c.var;
    const row = await ownedVideo(db, id, c.var.userId);
    const language = languageOf(rawLanguage);
    // Counted only for a track that exists (the quota is for changes).
    const tracks = (await captionsByVideo(db, [id])).get(id) ?? [];
    if (!tracks.some((track) => track.language === language)) throw notFound("captions");
    await spendQuota(c, "captions", c.var.userId);
    if (!(await deleteCaption(db, id, language))) throw notFound("captions");
    const key = captionKey(id, language);
    // The row is gone, so delivery no longer serves the file (play/routes.ts); a failed delete leaves an
    // orphan the video's own deletion sweeps away.
    await new Storage(config.s3).delete(key).catch((error: unknown) => {
      console.error(`captions: deleting ${key} failed:`, error);
    });
    await republish(c, row, language);
    return c.body(null, 204);
  })
  .openapi(listCaptions, async (c) => {
    const { id } = c.req.valid("param");
    const { db, config, callerId } = c.var;
    const row = await videoById(db, id);
    if (!row || !canRead(row, callerId)) throw notFound();
    const tracks = (await captionsByVideo(db, [id])).get(id) ?? [];
    const token = await playbackTokenFor(row, config.jwtSecret);
    const baseUrl = baseUrlOf(config.publicBaseUrl, c.req.url);
    return c.json({ captions: tracks.map((track) => captionJson(track, id, baseUrl, token)) }, 200);
  });
