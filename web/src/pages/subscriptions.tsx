import "../channels/channels.css";
import { useCallback, useState } from "preact/hooks";
import { ErrorNotice, Loading } from "../components/notice.tsx";
import { RequireSignIn } from "../components/require-sign-in.tsx";
import { VideoFeed } from "../components/video-feed.tsx";
import { api, call } from "../lib/api.ts";
import type { Channel } from "../lib/api-types.ts";
import { useAsync, useSession, useTitle } from "../lib/hooks.ts";

/** The channels you subscribe to, and their newest videos. */
export function SubscriptionsPage() {
  useTitle("Subscriptions");
  return (
    <RequireSignIn what="see your subscriptions">
      <Subscriptions />
    </RequireSignIn>
  );
}

function Subscriptions() {
  const userId = useSession()?.user.id;
  const loadFeed = useCallback(
    (cursor: string | undefined) =>
      call(api.GET("/v1/me/feed", { params: { query: { limit: 24, ...(cursor ? { cursor } : {}) } } })),
    [userId],
  );
  return (
    <section class="page">
      <h1>Subscriptions</h1>
      <h2 id="subscribed-channels">Channels</h2>
      <SubscribedChannels key={userId} userId={userId} />
      <h2>Newest videos</h2>
      <VideoFeed
        load={loadFeed}
        label="Newest videos from your subscriptions"
        empty="No videos from your subscriptions yet."
      />
    </section>
  );
}

/** Your subscriptions as links to the channels, latest first, a page at a time. */
function SubscribedChannels({ userId }: { userId: string | undefined }) {
  const first = useAsync(
    (signal) => call(api.GET("/v1/me/subscriptions", { params: { query: { limit: 50 } }, signal })),
    [userId],
  );
  const [more, setMore] = useState<{ channels: Channel[]; nextCursor: string | null } | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<unknown>(null);

  if (first.status === "loading") return <Loading label="Loading your subscriptions" />;
  if (first.status === "error") return <ErrorNotice error={first.error} onRetry={first.reload} />;
  const channels = [...first.data.channels, ...(more?.channels ?? [])];
  const cursor = more ? more.nextCursor : first.data.nextCursor;
  if (channels.length === 0) {
    return <p class="empty">You have not subscribed to any channel yet: subscribe on a channel's page.</p>;
  }
  const loadMore = async () => {
    if (!cursor || loading) return;
    setLoading(true);
    setError(null);
    try {
      const page = await call(api.GET("/v1/me/subscriptions", { params: { query: { limit: 50, cursor } } }));
      setMore({ channels: [...(more?.channels ?? []), ...page.channels], nextCursor: page.nextCursor });
    } catch (caught) {
      setError(caught);
    } finally {
      setLoading(false);
    }
  };
  return (
    <>
      <ul class="channel-list" aria-labelledby="subscribed-channels">
        {channels.map((channel) => (
          <li key={channel.id}>
            <a href={`/c/${channel.handle}`}>{channel.name}</a>
          </li>
        ))}
      </ul>
      {error ? <ErrorNotice error={error} /> : null}
      {cursor && (
        <div class="more">
          <button type="button" class="button" aria-disabled={loading} onClick={() => void loadMore()}>
            {loading ? "Loading…" : "More channels"}
          </button>
        </div>
      )}
    </>
  );
}
