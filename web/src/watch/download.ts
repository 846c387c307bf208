/** What the watch page says when the download route refuses (the edge's own message otherwise). */
import { ApiError, describeError } from "../lib/errors.ts";

const MESSAGES: Record<string, string> = {
  downloads_disabled: "The owner has turned downloads of this video off.",
  not_ready: "This video is still processing: it can be downloaded when it is ready.",
  no_download: "This video has no file to download.",
  not_found: "This video is gone, or it is private.",
};

/** A failed GET /v1/videos/:id/download, said as what it means for the viewer. */
export function downloadErrorMessage(error: unknown): string {
  if (error instanceof ApiError && MESSAGES[error.code]) return MESSAGES[error.code] as string;
  return describeError(error);
}
