/**
 * The browser upload flow from docs/api.md, type-checked against the generated API types (npm run
 * typecheck), so the documented example cannot drift from the API. Not run: it needs a browser `File`.
 */
import { createApiClient } from "@streamlet/shared/api-client";
import { type ProgressEvent, subscribeToProgress } from "@streamlet/shared/progress-client";

declare const EDGE: string;
declare const session: { accessToken: string };
declare const file: File;
declare function render(event: ProgressEvent): void;

export async function uploadVideo() {
  const api = createApiClient({ baseUrl: EDGE, getToken: () => session.accessToken });

  // 1. Create the video: the answer carries a presigned PUT straight to object storage.
  const created = await api.POST("/v1/videos", { body: { title: file.name } });
  if (created.error) throw new Error(created.error.error.message);
  const { video, upload } = created.data;

  // 2. Upload the bytes to storage (never through the edge), with exactly the headers given.
  const put = await fetch(upload.url, { method: upload.method, headers: upload.headers, body: file });
  if (!put.ok) throw new Error(`upload failed: ${put.status}`);

  // 3. Tell the edge: it checks the object and queues the transcode.
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
