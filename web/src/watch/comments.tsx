import { useEffect, useState } from "preact/hooks";
import { ErrorNotice, Loading } from "../components/notice.tsx";
import { api, call } from "../lib/api.ts";
import { formatCount } from "../lib/format.ts";
import { CommentForm } from "./comment-form.tsx";
import { CommentItem } from "./comment-item.tsx";
import { appendPage, type Me } from "./comment-rules.ts";
import { SignInPrompt } from "./sign-in-prompt.tsx";
import type { WatchComment } from "./types.ts";

const PAGE = 20;

/** The video's comments, newest first, a page at a time, with a form to add one when signed in. */
export function Comments({ videoId, me, total }: { videoId: string; me: Me; total: number | undefined }) {
  const [comments, setComments] = useState<WatchComment[]>([]);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [count, setCount] = useState(total);

  const more = async (from: string | undefined, signal?: AbortSignal) => {
    setLoading(true);
    setError(null);
    try {
      const page = await call(
        api.GET("/v1/videos/{id}/comments", {
          params: { path: { id: videoId }, query: { limit: PAGE, ...(from ? { cursor: from } : {}) } },
          signal,
        }),
      );
      if (signal?.aborted) return;
      setComments((shown) => appendPage(from ? shown : [], page.comments));
      setCursor(page.nextCursor);
    } catch (caught) {
      if (!signal?.aborted) setError(caught);
    } finally {
      if (!signal?.aborted) setLoading(false);
    }
  };

  useEffect(() => {
    const controller = new AbortController();
    setCount(total);
    void more(undefined, controller.signal);
    return () => controller.abort();
  }, [videoId]);

  const posted = (comment: WatchComment) => {
    setComments((shown) => [comment, ...shown]);
    setCount((n) => (n ?? 0) + 1);
  };
  const deleted = (comment: WatchComment) => {
    setComments((shown) => shown.filter((c) => c.id !== comment.id));
    setCount((n) => Math.max(0, (n ?? 0) - 1 - comment.replyCount));
  };

  return (
    <section class="comments" aria-labelledby="comments-heading">
      <h2 id="comments-heading">{count === undefined ? "Comments" : formatCount(count, "comment")}</h2>
      {me.userId ? (
        <CommentForm videoId={videoId} label="Add a comment" submitLabel="Comment" onPosted={posted} />
      ) : (
        <SignInPrompt what="comment" />
      )}
      {comments.length > 0 ? (
        <ol class="comment-list">
          {comments.map((comment) => (
            <CommentItem
              key={comment.id}
              comment={comment}
              me={me}
              videoId={videoId}
              onDeleted={deleted}
              onReplyCount={(delta) => setCount((n) => Math.max(0, (n ?? 0) + delta))}
            />
          ))}
        </ol>
      ) : (
        !loading && !error && cursor === null && <p class="empty">No comments yet.</p>
      )}
      {error ? <ErrorNotice error={error} onRetry={() => void more(cursor ?? undefined)} /> : null}
      {loading && <Loading label="Loading comments" />}
      {cursor && !loading && !error && (
        <div class="more">
          <button type="button" class="button" onClick={() => void more(cursor)}>
            More comments
          </button>
        </div>
      )}
    </section>
  );
}
