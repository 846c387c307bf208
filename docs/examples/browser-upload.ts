/**
 * The browser upload flow from docs/api.md, type-checked against the generated API types (npm run
 * typecheck), so the documented example cannot drift from the API. Not run: it needs a browser `File`.
 */
import { createApiClient } from "@streamlet/shared/api-client";
import { type ProgressEvent, subscribeToProgress } from "@streamlet/shared/progress-client";
import { uploadSource } from "@streamlet/shared/upload-client";

declare const EDGE: string;
declare const session: { accessToken: string };
declare const file: File;
declare function render(event: ProgressEvent): void;

export async function uploadVideo() {
  const api = createApiClient({ baseUrl: EDGE, getToken: () => session.accessToken });

  // 1. Create the video with the file's size: the answer says how to upload it (one presigned PUT for a
  //    small file, a multipart upload for a large one).
  const created = await api.POST("/v1/videos", {
    body: { title: file.name, upload: { size: file.size, contentType: file.type, fileName: file.name } },
  });
  if (created.error) throw new Error(created.error.error.message);
  const { video, upload } = created.data;
  if (!upload) throw new Error("an upload was asked for");

  // 2. Upload the bytes to storage (never through the edge): parts in parallel, each retried, resumed from
  //    what storage holds when run again for the same video (after a reload, say).
  await uploadSource({ api, videoId: video.id, ticket: upload, file, onProgress: (p) => console.log(p) });

  // 3. Tell the edge: it completes the upload from what storage holds and queues the transcode.
  await api.POST("/v1/videos/{id}/uploaded", { params: { path: { id: video.id } } });

  // 4. Live progress until ready/failed (reconnects and resumes from the last seq it saw).
  subscribeToProgress({
    baseUrl: EDGE,
    videoId: video.id,
    accessToken: () => session.accessToken,
    onEvent: (event) => render(event),
  });
  // then play video.playback.hls with hls.js (or natively in Safari)
}
