import { useState } from "preact/hooks";
import { ErrorNotice } from "../components/notice.tsx";
import { api, call } from "../lib/api.ts";
import { formatCount } from "../lib/format.ts";
import { useAsync } from "../lib/hooks.ts";
import { SignInPrompt } from "./sign-in-prompt.tsx";
import type { ChannelRef } from "./types.ts";

/**
 * The video's channel: its name (a link to /c/:handle), subscriber count and a subscribe toggle, which the
 * channel's owner does not get and a signed-out viewer gets as a sign-in prompt.
 */
export function ChannelRow({
  channel,
  subscribed: initiallySubscribed,
  isOwner,
  signedIn,
}: {
  channel: ChannelRef;
  subscribed: boolean;
  isOwner: boolean;
  signedIn: boolean;
}) {
  const details = useAsync(
    (signal) =>
      call(api.GET("/v1/channels/{handle}", { params: { path: { handle: channel.handle } }, signal })),
    [channel.handle, signedIn],
  );
  const [override, setOverride] = useState<{ subscribed: boolean; count: number } | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [prompt, setPrompt] = useState(false);

  const subscribed = override?.subscribed ?? details.data?.subscribed ?? initiallySubscribed;
  const count = override?.count ?? details.data?.subscriberCount;

  const toggle = async () => {
    if (!signedIn) {
      setPrompt(true);
      return;
    }
    if (busy) return;
    setBusy(true);
    setError(null);
    const path = { params: { path: { handle: channel.handle } } };
    try {
      if (subscribed) {
        await call(api.DELETE("/v1/channels/{handle}/subscription", path));
        setOverride({ subscribed: false, count: Math.max(0, (count ?? 1) - 1) });
      } else {
        const updated = await call(api.PUT("/v1/channels/{handle}/subscription", path));
        setOverride({ subscribed: true, count: updated.subscriberCount });
      }
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="channel-row">
      <div class="channel-id">
        <a href={`/c/${encodeURIComponent(channel.handle)}`} class="channel-name">
          {channel.name}
        </a>
        {count !== undefined && <span class="muted">{formatCount(count, "subscriber")}</span>}
      </div>
      {!isOwner && (
        <button
          type="button"
          class="button subscribe"
          aria-pressed={subscribed}
          // aria-disabled, not disabled: a disabled button drops the keyboard focus it has.
          aria-disabled={busy}
          onClick={() => void toggle()}
        >
          {subscribed && <span aria-hidden="true">✓ </span>}
          Subscribe
        </button>
      )}
      {prompt && <SignInPrompt announce what="subscribe" />}
      {error ? <ErrorNotice error={error} /> : null}
    </div>
  );
}
