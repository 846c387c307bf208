import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { StatusReport } from "@streamlet/shared";
import { and, eq, inArray, sql } from "drizzle-orm";
import { type VideoRow, videos } from "../db/schema.ts";
import type { AppEnv } from "../env.ts";
import { HttpError, notFound } from "../errors.ts";
import { errors, json, jsonBody, transcoderSecurity, VideoEnvelopeSchema } from "../openapi.ts";
import { baseUrlOf, isUuid, toVideo } from "../videos/serialize.ts";
import { decideTransition } from "../videos/transitions.ts";
import { requireTranscoder } from "./require-transcoder.ts";

const reportStatus = createRoute({
  method: "post",
  path: "/videos/{id}/status",
  tags: ["internal"],
  summary: "Transcoder status report (the transcoder's only way to write)",
  security: transcoderSecurity,
  middleware: [requireTranscoder()] as const,
  request: {
    params: z.object({ id: z.string().openapi({ param: { name: "id", in: "path" }, format: "uuid" }) }),
    // The validator runs StatusReport.safeParse: exactly what shared's parseStatusReport does.
    body: jsonBody(StatusReport.openapi("StatusReport")),
  },
  responses: {
    200: json(VideoEnvelopeSchema, "Applied, or a repeat of the stored terminal state (no-op)"),
    ...errors({
      400: "Not a status report",
      401: "Missing or wrong transcoder secret",
      404: "No such video",
      409: "invalid_state: the transition is not allowed from the stored status",
    }),
  },
});

/** /v1/internal: routes for the transcoder, authenticated with TRANSCODER_SECRET, never user tokens. */
export const internalRoutes = new OpenAPIHono<AppEnv>().openapi(reportStatus, async (c) => {
  const { id } = c.req.valid("param");
  if (!isUuid(id)) throw notFound();
  const report = c.req.valid("json");
  const { db, config } = c.var;
  const changes =
    report.status === "ready"
      ? {
          status: report.status,
          durationSeconds: report.durationSeconds,
          sourceWidth: report.sourceWidth,
          sourceHeight: report.sourceHeight,
          renditions: report.renditions,
          failureReason: null,
          readyAt: sql`now()`,
        }
      : report.status === "failed"
        ? { status: report.status, failureReason: report.reason }
        : { status: report.status };

  // Read, decide, conditionally write; if another report won the race, decide once more on what it left.
  for (let attempt = 0; attempt < 2; attempt++) {
    const [row] = await db.select().from(videos).where(eq(videos.id, id)).limit(1);
    if (!row) throw notFound();
    const decision = decideTransition(row.status, report.status);
    if (decision.kind === "reject") throw new HttpError(409, "invalid_state", decision.message);
    if (decision.kind === "noop") return respond(row);
    const [updated] = await db
      .update(videos)
      .set({ ...changes, updatedAt: sql`now()` })
      .where(and(eq(videos.id, id), inArray(videos.status, [...decision.from])))
      .returning();
    if (updated) return respond(updated);
  }
  throw new HttpError(409, "invalid_state", "the video's status changed concurrently; retry");

  function respond(row: VideoRow) {
    return c.json({ video: toVideo(row, baseUrlOf(config.publicBaseUrl, c.req.url)) }, 200);
  }
});
