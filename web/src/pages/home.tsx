import { useCallback } from "preact/hooks";
import { useLocation } from "preact-iso";
import { VideoFeed } from "../components/video-feed.tsx";
import { api, call } from "../lib/api.ts";
import { useTitle } from "../lib/hooks.ts";

/** Public videos, newest first; with ?q= the search results over titles and descriptions. */
export function HomePage() {
  const { query } = useLocation();
  const q = query.q?.trim() || undefined;
  useTitle(q ? `Search: ${q}` : undefined);
  const load = useCallback(
    (cursor: string | undefined) =>
      call(
        api.GET("/v1/videos", {
          params: { query: { limit: 24, ...(cursor ? { cursor } : {}), ...(q ? { q } : {}) } },
        }),
      ),
    [q],
  );
  return (
    <section class="page">
      <h1>{q ? `Results for “${q}”` : "Latest videos"}</h1>
      <VideoFeed
        load={load}
        label={q ? "Search results" : "Latest videos"}
        empty={q ? "No public video matches that search." : "No videos yet: be the first to upload one."}
      />
    </section>
  );
}
