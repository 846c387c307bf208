import { useEffect, useRef, useState } from "preact/hooks";
import type { Video, VideoList } from "../lib/api-types.ts";
import { ErrorNotice, Loading } from "./notice.tsx";
import { VideoCard } from "./video-card.tsx";

/**
 * A grid of videos loaded a page at a time (keyset cursors), the next page fetched when the end of the
 * list scrolls into view, or with the "More videos" button (keyboard users, and browsers without
 * IntersectionObserver).
 */
export function VideoFeed({
  load,
  empty,
  label,
}: {
  /** One page: the cursor is undefined for the first. */
  load: (cursor: string | undefined) => Promise<VideoList>;
  empty: string;
  label: string;
}) {
  const [videos, setVideos] = useState<Video[]>([]);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const sentinel = useRef<HTMLDivElement>(null);
  const generation = useRef(0);

  const more = async () => {
    if (loading || cursor === null) return;
    const mine = generation.current;
    setLoading(true);
    setError(null);
    try {
      const page = await load(cursor);
      if (mine !== generation.current) return;
      setVideos((previous) => {
        const seen = new Set(previous.map((v) => v.id));
        return [...previous, ...page.videos.filter((v) => !seen.has(v.id))];
      });
      setCursor(page.nextCursor);
    } catch (caught) {
      if (mine === generation.current) setError(caught);
    } finally {
      if (mine === generation.current) setLoading(false);
    }
  };

  // A new `load` (another search, another channel) starts over.
  useEffect(() => {
    generation.current++;
    setVideos([]);
    setCursor(undefined);
    setLoading(false);
    setError(null);
  }, [load]);

  useEffect(() => {
    if (cursor === undefined && !loading && !error) void more();
  }, [cursor, loading, error, load]);

  useEffect(() => {
    const target = sentinel.current;
    // After a failure, only the "Try again" button fetches (no retry loop while the end is in view).
    if (!target || error || typeof IntersectionObserver === "undefined") return;
    const observer = new IntersectionObserver(
      (entries) => {
        if (entries.some((e) => e.isIntersecting)) void more();
      },
      { rootMargin: "600px" },
    );
    observer.observe(target);
    return () => observer.disconnect();
  }, [cursor, loading, error]);

  return (
    <section aria-label={label}>
      {videos.length > 0 ? (
        <ul class="video-grid">
          {videos.map((video) => (
            <VideoCard key={video.id} video={video} />
          ))}
        </ul>
      ) : (
        !loading && !error && cursor === null && <p class="empty">{empty}</p>
      )}
      {error ? <ErrorNotice error={error} onRetry={() => void more()} /> : null}
      {loading && <Loading label="Loading videos" />}
      {cursor && !loading && !error && (
        <div class="more">
          <button type="button" class="button" onClick={() => void more()}>
            More videos
          </button>
        </div>
      )}
      <div ref={sentinel} aria-hidden="true" />
    </section>
  );
}
