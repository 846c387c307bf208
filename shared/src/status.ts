import { z } from "zod";
import { Rendition } from "./video.ts";

/**
 * What the transcoder reports to the edge about a job (POST /v1/internal/videos/:id/status,
 * authenticated with the transcoder's own secret). A union keyed by `status`.
 */
export const StatusReport = z.discriminatedUnion("status", [
  z.object({ status: z.literal("processing") }).strict(),
  z
    .object({
      status: z.literal("ready"),
      durationSeconds: z.number().positive(),
      sourceWidth: z.number().int().positive(),
      sourceHeight: z.number().int().positive(),
      renditions: z.array(Rendition).min(1),
    })
    .strict(),
  z
    .object({
      status: z.literal("failed"),
      reason: z.string().min(1).max(1000),
    })
    .strict(),
]);
export type StatusReport = z.infer<typeof StatusReport>;

/** Parses a status report; null for anything that is not one. */
export function parseStatusReport(input: unknown): StatusReport | null {
  const parsed = StatusReport.safeParse(input);
  return parsed.success ? parsed.data : null;
}
