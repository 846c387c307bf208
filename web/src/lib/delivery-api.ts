/**
 * The delivery routes (downloads and captions) in one place, so the pages never spell their paths and a
 * change of route or body touches one file.
 */
import { api, call } from "./api.ts";
import type { Caption, DownloadTicket, Video } from "./api-types.ts";

/** A short-lived URL of the video's MP4 (GET /v1/videos/:id/download). */
export function requestDownload(id: string): Promise<DownloadTicket> {
  return call(api.GET("/v1/videos/{id}/download", { params: { path: { id } } }));
}

/** Turns viewers' downloads of the owner's video on or off; answers the video. */
export function setDownloadsEnabled(id: string, downloadsEnabled: boolean): Promise<Video> {
  return call(api.PATCH("/v1/videos/{id}", { params: { path: { id } }, body: { downloadsEnabled } }));
}

/** Uploads or replaces the captions in `language` (the file's text, WebVTT or SRT); answers the track. */
export function putCaption(
  id: string,
  language: string,
  text: string,
  options: { label?: string; contentType: "text/vtt" | "application/x-subrip" | "text/plain" },
): Promise<Caption> {
  return call(
    api.PUT("/v1/videos/{id}/captions/{language}", {
      params: { path: { id, language }, query: options.label ? { label: options.label } : {} },
      headers: { "content-type": options.contentType },
      body: text,
      // The body is the caption file itself, not JSON.
      bodySerializer: (body: string) => body,
    }),
  );
}

/** Deletes the captions in `language`. */
export async function deleteCaption(id: string, language: string): Promise<void> {
  await call(api.DELETE("/v1/videos/{id}/captions/{language}", { params: { path: { id, language } } }));
}
