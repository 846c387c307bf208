import { type ProgressEvent, parseProgressEvent } from "@streamlet/shared";
import type { VideoRow } from "../db/schema.ts";

/**
 * The event a subscriber sees when the video's progress object has stored nothing yet (a video queued
 * before anyone published, finished before progress existed, or an object whose storage was lost), built
 * from the row with seq 0. Null when the row says nothing an event can: awaiting upload, or processing
 * with no event to show.
 */
export function fallbackEvent(row: VideoRow): ProgressEvent | null {
  const at = row.updatedAt.getTime();
  switch (row.status) {
    case "queued":
      return { type: "queued", seq: 0, at };
    case "ready":
      // Validated: a row written before the progress contract could hold values the event schema refuses.
      return parseProgressEvent({
        type: "ready",
        seq: 0,
        at: row.readyAt?.getTime() ?? at,
        durationSeconds: row.durationSeconds,
        sourceWidth: row.sourceWidth,
        sourceHeight: row.sourceHeight,
        renditions: row.renditions,
        // A video published before delivery assets existed has none (the field is optional).
        ...(row.assets ? { assets: row.assets } : {}),
      });
    case "failed":
      return parseProgressEvent({
        type: "failed",
        seq: 0,
        at,
        reason: (row.failureReason ?? "").slice(0, 1000) || "transcoding failed",
      });
    case "awaiting_upload":
    case "processing":
      return null;
  }
}
