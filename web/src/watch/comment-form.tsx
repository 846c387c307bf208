import { useId, useState } from "preact/hooks";
import { ErrorNotice } from "../components/notice.tsx";
import { api, call } from "../lib/api.ts";
import type { WatchComment } from "./types.ts";

/** The edge's limit (COMMENT_MAX_CHARS in shared/): longer bodies are refused with 400 anyway. */
const MAX_CHARS = 2000;

/** A labelled textarea that posts a comment, or a reply when `parentId` is set. */
export function CommentForm({
  videoId,
  parentId,
  label,
  submitLabel,
  onPosted,
  onCancel,
}: {
  videoId: string;
  parentId?: string;
  label: string;
  submitLabel: string;
  onPosted: (comment: WatchComment) => void;
  onCancel?: () => void;
}) {
  const id = useId();
  const [body, setBody] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const submit = async (event: SubmitEvent) => {
    event.preventDefault();
    if (!body.trim()) return;
    setBusy(true);
    setError(null);
    try {
      const comment = await call(
        api.POST("/v1/videos/{id}/comments", {
          params: { path: { id: videoId } },
          body: parentId ? { body, parentId } : { body },
        }),
      );
      setBody("");
      onPosted(comment);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="comment-form" onSubmit={(event) => void submit(event)}>
      <label for={id}>{label}</label>
      <textarea
        id={id}
        value={body}
        maxLength={MAX_CHARS}
        required
        onInput={(event) => setBody(event.currentTarget.value)}
      />
      {error ? <ErrorNotice error={error} /> : null}
      <div class="comment-form-actions">
        {onCancel && (
          <button type="button" class="button" onClick={onCancel}>
            Cancel
          </button>
        )}
        <button type="submit" class="button primary" disabled={busy || !body.trim()}>
          {submitLabel}
        </button>
      </div>
    </form>
  );
}
