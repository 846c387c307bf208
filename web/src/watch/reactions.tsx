import { useState } from "preact/hooks";
import { ErrorNotice } from "../components/notice.tsx";
import { api, call } from "../lib/api.ts";
import { formatNumber } from "../lib/format.ts";
import { nextReaction } from "./comment-rules.ts";
import { SignInPrompt } from "./sign-in-prompt.tsx";
import { ThumbIcon } from "./thumb-icon.tsx";
import type { Reaction } from "./types.ts";

interface Tally {
  likes: number;
  dislikes: number;
  mine: Reaction | null;
}

/** Like and dislike as toggle buttons (aria-pressed) with the video's counts; signed out, a sign-in prompt. */
export function Reactions({
  videoId,
  initial,
  signedIn,
}: {
  videoId: string;
  initial: Tally;
  signedIn: boolean;
}) {
  const [tally, setTally] = useState(initial);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [prompt, setPrompt] = useState(false);

  const press = async (clicked: Reaction) => {
    if (!signedIn) {
      setPrompt(true);
      return;
    }
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      const path = { params: { path: { id: videoId } } };
      const next = nextReaction(tally.mine, clicked);
      const summary = await call(
        next === null
          ? api.DELETE("/v1/videos/{id}/reaction", path)
          : api.PUT("/v1/videos/{id}/reaction", { ...path, body: { value: next } }),
      );
      setTally(summary);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="reactions">
      {/* biome-ignore lint/a11y/useSemanticElements: a group of two toggles, not a form's fieldset. */}
      <div role="group" aria-label="Rate this video" class="reaction-buttons">
        <button
          type="button"
          class="button"
          aria-pressed={tally.mine === "like"}
          // aria-disabled, not disabled: a disabled button drops the keyboard focus it has.
          aria-disabled={busy}
          onClick={() => void press("like")}
        >
          <ThumbIcon />
          Like <span class="count">{formatNumber(tally.likes)}</span>
        </button>
        <button
          type="button"
          class="button"
          aria-pressed={tally.mine === "dislike"}
          aria-disabled={busy}
          onClick={() => void press("dislike")}
        >
          <ThumbIcon down />
          Dislike <span class="count">{formatNumber(tally.dislikes)}</span>
        </button>
      </div>
      {prompt && <SignInPrompt announce what="rate videos" />}
      {error ? <ErrorNotice error={error} /> : null}
    </div>
  );
}
