/**
 * The watch page (/watch/:id): the player, the video's title, channel, reactions and description, and its
 * comments. A private video is a 404 for everyone but its owner, shown as what that means.
 */
import { useEffect, useRef } from "preact/hooks";
import { useRoute } from "preact-iso";
import { ErrorNotice, Loading } from "../components/notice.tsx";
import { api, call } from "../lib/api.ts";
import { formatAgo, formatCount } from "../lib/format.ts";
import { useAsync, useSession, useTitle } from "../lib/hooks.ts";
import { ChannelRow } from "../watch/channel-row.tsx";
import { Comments } from "../watch/comments.tsx";
import { DownloadButton } from "../watch/download-button.tsx";
import { playbackState, storyboardOf } from "../watch/playback-state.ts";
import { Player } from "../watch/player.tsx";
import { Reactions } from "../watch/reactions.tsx";
import type { WatchVideo } from "../watch/types.ts";
import "../watch/watch.css";

/** How often a video that is not ready yet is fetched again (to play it, then to open its comments). */
const WAITING_POLL_MS = 5000;

export function WatchPage() {
  const { params } = useRoute();
  const id = params.id ?? "";
  const current = useSession();
  const userId = current?.user.id ?? null;
  const video = useAsync(
    (signal): Promise<WatchVideo> => call(api.GET("/v1/videos/{id}", { params: { path: { id } }, signal })),
    [id, userId],
  );
  useTitle(video.data?.title);

  const waiting = video.data && video.data.status !== "ready" && video.data.status !== "failed";
  useEffect(() => {
    if (!waiting) return;
    const timer = setTimeout(video.reload, WAITING_POLL_MS);
    return () => clearTimeout(timer);
  }, [waiting, video.data]);

  const counted = useViewCount(id);

  if (video.status === "loading") return <Loading label="Loading video" />;
  if (video.status === "error") {
    return (
      <section class="page watch">
        <h1>Video unavailable</h1>
        <ErrorNotice error={video.error} onRetry={video.reload} />
      </section>
    );
  }
  const v = video.data;
  const state = playbackState(v);
  const isOwner = v.viewer?.isOwner ?? false;
  return (
    <article class="page watch" aria-labelledby="video-title">
      <div class="watch-player">
        {state.kind === "playable" ? (
          <Player
            key={v.id}
            src={state.src}
            poster={v.playback.poster}
            storyboard={storyboardOf(v)}
            onPlaying={v.status === "ready" ? counted : undefined}
          />
        ) : (
          <div class={`player-status ${state.kind}`} role="status">
            <p>{state.message}</p>
          </div>
        )}
      </div>
      {state.kind === "playable" && state.stillProcessing && (
        <p class="muted processing-note">Still processing: more qualities appear when it finishes.</p>
      )}
      <h1 id="video-title" class="video-title">
        {v.title}
      </h1>
      <div class="watch-bar">
        <p class="muted video-meta">
          {v.stats ? `${formatCount(v.stats.views, "view")} · ` : ""}
          {formatAgo(v.readyAt ?? v.createdAt)}
          {v.visibility !== "public" && <span class="status">{v.visibility}</span>}
        </p>
        <div class="watch-actions">
          {/* Reactions, views and comments are for ready videos (the edge refuses them before). */}
          {v.status === "ready" && (
            <Reactions
              key={`${v.id}:${userId}`}
              videoId={v.id}
              signedIn={userId !== null}
              initial={{
                likes: v.stats?.likes ?? 0,
                dislikes: v.stats?.dislikes ?? 0,
                mine: v.viewer?.reaction ?? null,
              }}
            />
          )}
          {v.downloadable && <DownloadButton key={v.id} videoId={v.id} title={v.title} />}
        </div>
      </div>
      {v.channel && (
        <ChannelRow
          key={`${v.channel.handle}:${userId}`}
          channel={v.channel}
          subscribed={v.viewer?.subscribed ?? false}
          isOwner={isOwner}
          signedIn={userId !== null}
        />
      )}
      {v.description && <p class="video-description">{v.description}</p>}
      {v.status === "ready" ? (
        <Comments
          key={`${v.id}:${userId}`}
          videoId={v.id}
          me={{ userId, isOwner }}
          total={v.stats?.comments}
        />
      ) : (
        <p class="muted">Likes and comments open when processing finishes.</p>
      )}
    </article>
  );
}

/**
 * Counts one view per page view, when playback first actually starts (not on load, not on every resume):
 * the edge dedupes per viewer anyway, this keeps the page from asking more than once.
 */
function useViewCount(id: string): () => void {
  const countedFor = useRef<string | null>(null);
  return () => {
    if (countedFor.current === id) return;
    countedFor.current = id;
    void api.POST("/v1/videos/{id}/views", { params: { path: { id } } }).catch(() => {});
  };
}
