import "../channels/channels.css";
import { useCallback, useState } from "preact/hooks";
import { useLocation, useRoute } from "preact-iso";
import { ErrorNotice, Loading } from "../components/notice.tsx";
import { VideoFeed } from "../components/video-feed.tsx";
import { api, call } from "../lib/api.ts";
import type { ChannelDetail } from "../lib/api-types.ts";
import { ApiError } from "../lib/errors.ts";
import { formatCount } from "../lib/format.ts";
import { useAsync, useSession, useTitle } from "../lib/hooks.ts";

/** A channel: its name and description, subscribing to it, and its public videos, newest first. */
export function ChannelPage() {
  const handle = (useRoute().params.handle ?? "").toLowerCase();
  const userId = useSession()?.user.id;
  // Signed in, the answer says whether you subscribe: ask again when the session changes.
  const channel = useAsync(
    (signal) => call(api.GET("/v1/channels/{handle}", { params: { path: { handle } }, signal })),
    [handle, userId],
  );
  const missing = channel.error instanceof ApiError && channel.error.status === 404;
  useTitle(channel.data?.name ?? (missing ? "No such channel" : undefined));
  const loadVideos = useCallback(
    (cursor: string | undefined) =>
      call(
        api.GET("/v1/channels/{handle}/videos", {
          params: { path: { handle }, query: { limit: 24, ...(cursor ? { cursor } : {}) } },
        }),
      ),
    [handle],
  );

  if (channel.status === "loading") {
    return (
      <section class="page">
        <Loading label="Loading the channel" />
      </section>
    );
  }
  if (channel.status === "error") {
    return (
      <section class="page">
        <h1>{missing ? "No such channel" : "This channel could not be loaded"}</h1>
        {missing ? (
          <p>There is no channel @{handle}: check the address, or it may have been deleted.</p>
        ) : (
          <ErrorNotice error={channel.error} onRetry={channel.reload} />
        )}
      </section>
    );
  }
  const data = channel.data;
  return (
    <section class="page channel-page">
      <header class="channel-header">
        <div>
          <h1>{data.name}</h1>
          <p class="channel-handle">@{data.handle}</p>
          <p class="channel-count" aria-live="polite">
            {formatCount(data.subscriberCount, "subscriber")}
          </p>
        </div>
        <ChannelActions channel={data} onChange={channel.set} />
      </header>
      {data.description && <p class="channel-description">{data.description}</p>}
      <h2>Videos</h2>
      <VideoFeed
        load={loadVideos}
        label={`Videos of ${data.name}`}
        empty="This channel has no public videos yet."
      />
    </section>
  );
}

/** Subscribe or unsubscribe; a sign-in link when signed out; "Edit channel" for its owner. */
function ChannelActions({
  channel,
  onChange,
}: {
  channel: ChannelDetail;
  onChange(next: ChannelDetail): void;
}) {
  const current = useSession();
  const { url } = useLocation();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  if (!current) {
    return (
      <div class="channel-actions">
        <a class="button primary" href={`/signin?next=${encodeURIComponent(url)}`}>
          Sign in to subscribe
        </a>
      </div>
    );
  }
  if (current.user.id === channel.ownerId) {
    return (
      <div class="channel-actions">
        <a class="button" href="/me/channel">
          Edit channel
        </a>
      </div>
    );
  }
  const params = { path: { handle: channel.handle } };
  const toggle = async () => {
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      if (channel.subscribed) {
        await call(api.DELETE("/v1/channels/{handle}/subscription", { params }));
        // 204 carries no count: read the channel again for it.
        onChange(await call(api.GET("/v1/channels/{handle}", { params })));
      } else {
        onChange({
          ...(await call(api.PUT("/v1/channels/{handle}/subscription", { params }))),
          subscribed: true,
        });
      }
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="channel-actions">
      <button
        type="button"
        class={channel.subscribed ? "button" : "button primary"}
        // aria-disabled, not disabled: a disabled button drops keyboard focus mid-request.
        aria-disabled={busy}
        onClick={() => void toggle()}
      >
        {channel.subscribed ? "Unsubscribe" : "Subscribe"}
      </button>
      {error ? <ErrorNotice error={error} /> : null}
    </div>
  );
}
