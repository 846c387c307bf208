import { useState } from "preact/hooks";
import type { Video } from "../lib/api-types.ts";
import { formatAgo, formatCount, formatDuration } from "../lib/format.ts";

/** One video in a grid: poster (or a placeholder while it processes), title, channel, views, age. */
export function VideoCard({ video }: { video: Video }) {
  const duration = formatDuration(video.durationSeconds);
  // A poster that fails to load (storage hiccup, a video deleted meanwhile) shows the placeholder.
  const [posterFailed, setPosterFailed] = useState(false);
  return (
    <li class="video-card">
      <a href={`/watch/${video.id}`} class="video-card-link">
        <div class="thumb">
          {video.playback.poster && !posterFailed ? (
            <img
              src={video.playback.poster}
              alt=""
              loading="lazy"
              width={320}
              height={180}
              onError={() => setPosterFailed(true)}
            />
          ) : (
            <div class="thumb-placeholder" aria-hidden="true" />
          )}
          {duration && <span class="duration">{duration}</span>}
        </div>
        <span class="video-card-title">{video.title}</span>
      </a>
      {video.channel && (
        <a class="video-card-meta" href={`/c/${video.channel.handle}`}>
          {video.channel.name}
        </a>
      )}
      <span class="video-card-meta">
        {video.stats ? `${formatCount(video.stats.views, "view")} · ` : ""}
        {formatAgo(video.readyAt ?? video.createdAt)}
      </span>
    </li>
  );
}
