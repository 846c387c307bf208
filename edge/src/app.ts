import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { PROGRESS_TOKEN_HEADER } from "@streamlet/shared";
import type { Context, MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import { HTTPException } from "hono/http-exception";
import { requestId } from "hono/request-id";
import { authRoutes } from "./auth/routes.ts";
import { captionRoutes, isCaptionUpload, MAX_CAPTION_BYTES } from "./captions/routes.ts";
import { channelRoutes } from "./channels/routes.ts";
import { commentRoutes } from "./comments/routes.ts";
import { ConfigError } from "./config.ts";
import { engagementRoutes } from "./engagement/routes.ts";
import type { AppEnv } from "./env.ts";
import { envelope, HttpError, loggable } from "./errors.ts";
import { limitBody, noSniff, withConfig, withDb } from "./middleware.ts";
import { json } from "./openapi.ts";
import { playRoutes } from "./play/routes.ts";
import { progressRoutes } from "./progress/routes.ts";
import { downloadRoutes } from "./videos/download-routes.ts";
import { meRoutes } from "./videos/me-routes.ts";
import { videoRoutes } from "./videos/routes.ts";
import { uploadRoutes } from "./videos/upload-routes.ts";

type ValidationResult = { success: true } | { success: false; error: z.ZodError; target: string };

/**
 * The zod failure hook every route shares: a 400 in our envelope naming each bad field; a path parameter
 * that fails (a malformed id, see ids.ts) names nothing, so it is a 404 with the parameter's message.
 */
export function validationHook(result: ValidationResult, c: Context) {
  if (result.success) return;
  if (result.target === "param") {
    return c.json(envelope("not_found", result.error.issues[0]?.message ?? "not found"), 404);
  }
  const where = result.target === "json" ? "body" : result.target;
  const problems = result.error.issues
    .map((issue) => (issue.path.length ? `${issue.path.join(".")}: ${issue.message}` : issue.message))
    .join("; ");
  return c.json(envelope("invalid_request", `invalid ${where}: ${problems}`), 400);
}

// Players fetch playlists and segments cross-origin, with Range; hls.js reads Content-Range.
const playCors = cors({
  origin: "*",
  allowMethods: ["GET", "HEAD", "OPTIONS"],
  allowHeaders: ["Range", "If-None-Match", "If-Range"],
  exposeHeaders: ["Content-Length", "Content-Range", "Accept-Ranges", "ETag"],
  maxAge: 86_400,
});
// Browser frontends on other origins call the API with bearer tokens (no cookies, so "*" is safe).
const apiCors = cors({
  origin: "*",
  allowMethods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
  allowHeaders: ["Authorization", "Content-Type", "X-Request-Id"],
  // Retry-After: how long a rate-limited (429) client should wait.
  exposeHeaders: ["X-Request-Id", "Retry-After"],
  maxAge: 600,
});
const corsByPath: MiddlewareHandler = (c, next) =>
  (c.req.path.startsWith("/v1/play/") ? playCors : apiCors)(c, next);

const healthz = createRoute({
  method: "get",
  path: "/healthz",
  tags: ["meta"],
  summary: "Liveness (no database call)",
  responses: { 200: json(z.object({ ok: z.literal(true) }), "Alive") },
});

/** Builds the Worker's app: one sub-app per resource, one error handler, one OpenAPI document. */
export function createApp() {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.use("*", requestId({ generator: (c) => c.req.header("cf-ray") ?? crypto.randomUUID() }));
  app.use("*", noSniff());
  app.use("*", corsByPath);
  // Caption files (WebVTT/SRT text) may be larger than any JSON body; every other body keeps the default.
  const captionBodies = limitBody({ maxBytes: MAX_CAPTION_BYTES });
  const otherBodies = limitBody();
  app.use("/v1/*", (c, next) =>
    isCaptionUpload(c.req.method, c.req.path) ? captionBodies(c, next) : otherBodies(c, next),
  );
  app.use("/v1/*", withConfig(), withDb());

  app.openapi(healthz, (c) => c.json({ ok: true as const }, 200));
  app.route("/v1/auth", authRoutes);
  app.route("/v1/videos", videoRoutes);
  app.route("/v1/videos", uploadRoutes);
  app.route("/v1/videos", captionRoutes);
  app.route("/v1", downloadRoutes);
  app.route("/", progressRoutes);
  app.route("/v1/videos", engagementRoutes);
  app.route("/v1", commentRoutes);
  app.route("/v1/me", meRoutes);
  app.route("/v1/channels", channelRoutes);
  app.route("/v1/play", playRoutes);

  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description: "Access token from /v1/auth/signup or /v1/auth/login",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "transcoderSecret", {
    type: "http",
    scheme: "bearer",
    description: "TRANSCODER_SECRET; internal routes only",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "progressToken", {
    type: "apiKey",
    in: "header",
    name: PROGRESS_TOKEN_HEADER,
    description: "The progressToken of the video's transcode job (publishes that video's progress only)",
  });
  app.doc31("/openapi.json", (c) => ({
    openapi: "3.1.0",
    info: { title: "Streamlet edge API", version: "1.0.0" },
    servers: [{ url: new URL(c.req.url).origin }],
  }));

  app.notFound((c) => c.json(envelope("not_found", `no route for ${c.req.method} ${c.req.path}`), 404));

  app.onError((error, c) => {
    if (error instanceof HttpError) {
      return c.json(envelope(error.code, error.message), error.status, error.headers);
    }
    if (error instanceof HTTPException && error.status < 500) {
      // Hono's own client errors: malformed JSON (400), unsupported media type (415), ...
      const code =
        error.status === 400
          ? "invalid_json"
          : error.status === 415
            ? "unsupported_media_type"
            : "bad_request";
      return c.json(envelope(code, error.message || "bad request"), error.status);
    }
    const requestIdValue = c.get("requestId") ?? "-";
    if (error instanceof ConfigError) {
      console.error(`[${requestIdValue}] ${error.message}`);
    } else {
      console.error(`[${requestIdValue}] unhandled error on ${c.req.method} ${c.req.path}:`, loggable(error));
    }
    return c.json(envelope("internal", `internal error (request id ${requestIdValue})`), 500);
  });

  return app;
}
