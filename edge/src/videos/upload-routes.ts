import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { PartUrls, PartUrlsBody, UploadState } from "@streamlet/shared";
import { requireUser } from "../auth/require-user.ts";
import type { AppEnv } from "../env.ts";
import { idParams } from "../ids.ts";
import { errors, json, jsonBody, named, userSecurity } from "../openapi.ts";
import { ownedVideo } from "./access.ts";
import { partUrls, uploadState } from "./source-upload.ts";

const IdParam = idParams();

const createPartUrls = createRoute({
  method: "post",
  path: "/{id}/upload/parts",
  tags: ["videos"],
  summary: "Presigned PUT URLs for parts of your video's multipart upload (up to 100 at a time)",
  description:
    "Each URL is valid for an hour and signed for its part's exact size. PUT the part's bytes to it; " +
    "storage answers with an ETag, which you need not keep: POST /v1/videos/{id}/uploaded completes the " +
    "upload from what storage holds.",
  security: userSecurity,
  middleware: [requireUser()] as const,
  request: { params: IdParam, body: jsonBody(PartUrlsBody) },
  responses: {
    200: json(named(PartUrls, "PartUrls"), "One URL per part asked for"),
    ...errors({
      400: "Invalid body, or a part number past the upload's last part",
      401: "Not signed in",
      404: "No such video, or not yours",
      409: "invalid_state: the source was already uploaded; not_multipart: the upload is a single PUT",
      415: "Body is not JSON",
    }),
  },
});

const getUpload = createRoute({
  method: "get",
  path: "/{id}/upload",
  tags: ["videos"],
  summary: "What storage already holds of your video's upload, to resume it",
  description:
    "For a multipart upload: the parts stored (number, size, ETag) and the bytes they add up to; upload " +
    "the others. For a single PUT: a fresh URL, and whether the file is there.",
  security: userSecurity,
  middleware: [requireUser()] as const,
  request: { params: IdParam },
  responses: {
    200: json(named(UploadState, "UploadState"), "The upload and what storage holds of it"),
    ...errors({
      401: "Not signed in",
      404: "No such video, or not yours",
      409: "invalid_state: the source was already uploaded (or the video is imported from a URL)",
    }),
  },
});

/** /v1/videos/:id/upload: the multipart upload's part URLs and its state in storage (resume). */
export const uploadRoutes = new OpenAPIHono<AppEnv>()
  .openapi(createPartUrls, async (c) => {
    const { id } = c.req.valid("param");
    const row = await ownedVideo(c.var.db, id, c.var.userId);
    return c.json(await partUrls(c.var.db, c.var.config, row, c.req.valid("json").partNumbers), 200);
  })
  .openapi(getUpload, async (c) => {
    const { id } = c.req.valid("param");
    const row = await ownedVideo(c.var.db, id, c.var.userId);
    return c.json(await uploadState(c.var.db, c.var.config, row), 200);
  });
