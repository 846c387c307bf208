import { useEffect, useRef, useState } from "preact/hooks";
import { ErrorNotice, Loading } from "../components/notice.tsx";
import { RequireSignIn } from "../components/require-sign-in.tsx";
import { api, call } from "../lib/api.ts";
import type { Video } from "../lib/api-types.ts";
import { useTitle } from "../lib/hooks.ts";
import { DeleteDialog } from "../upload/delete-dialog.tsx";
import { MyVideoItem } from "../upload/my-video-item.tsx";
import "../upload/my-videos.css";

const PAGE_SIZE = 20;

/** The signed-in user's videos in every status, newest first: edit, retry, delete, follow transcodes. */
export function MyVideosPage() {
  useTitle("My videos");
  return (
    <RequireSignIn what="see your videos">
      <MyVideos />
    </RequireSignIn>
  );
}

function MyVideos() {
  const [videos, setVideos] = useState<Video[]>([]);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [deleting, setDeleting] = useState<Video | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const heading = useRef<HTMLHeadingElement>(null);

  const more = async () => {
    if (loading || cursor === null) return;
    setLoading(true);
    setError(null);
    try {
      const page = await call(
        api.GET("/v1/me/videos", {
          params: { query: { limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) } },
        }),
      );
      setVideos((previous) => {
        const seen = new Set(previous.map((v) => v.id));
        return [...previous, ...page.videos.filter((v) => !seen.has(v.id))];
      });
      setCursor(page.nextCursor);
    } catch (caught) {
      setError(caught);
    } finally {
      setLoading(false);
    }
  };

  useEffect(() => {
    void more();
  }, []);

  const replace = (video: Video) => setVideos((list) => list.map((v) => (v.id === video.id ? video : v)));
  const deleted = (video: Video) => {
    setDeleting(null);
    setVideos((list) => list.filter((v) => v.id !== video.id));
    setNotice(`Deleted “${video.title}”.`);
  };

  return (
    <section class="page my-videos">
      <div class="my-videos-head">
        <h1 ref={heading} tabIndex={-1}>
          My videos
        </h1>
        <a class="button primary" href="/upload">
          Upload videos
        </a>
      </div>
      <div role="status" class="my-videos-notice">
        {notice && <p class="notice notice-ok">{notice}</p>}
      </div>
      {videos.length > 0 && (
        <ul class="my-videos-list" aria-label="Your videos">
          {videos.map((video) => (
            <MyVideoItem key={video.id} video={video} onChange={replace} onDelete={setDeleting} />
          ))}
        </ul>
      )}
      {videos.length === 0 && cursor === null && !loading && !error && (
        <p class="empty">
          You have no videos yet: <a href="/upload">upload one</a>.
        </p>
      )}
      {error ? <ErrorNotice error={error} onRetry={() => void more()} /> : null}
      {loading && <Loading label="Loading your videos" />}
      {cursor && !loading && !error && (
        <div class="more">
          <button type="button" class="button" onClick={() => void more()}>
            More videos
          </button>
        </div>
      )}
      <DeleteDialog video={deleting} onClose={() => setDeleting(null)} onDeleted={deleted} />
    </section>
  );
}
