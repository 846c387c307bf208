import { useState } from "preact/hooks";
import { ErrorNotice, Loading } from "../components/notice.tsx";
import { api, call } from "../lib/api.ts";
import { formatAgo, formatCount } from "../lib/format.ts";
import { CommentForm } from "./comment-form.tsx";
import { appendPage, authorHref, authorLabel, canDelete, type Me } from "./comment-rules.ts";
import type { WatchComment } from "./types.ts";

/**
 * One comment: who wrote it and when, its text, Delete when the viewer may, and for a top-level comment
 * Reply and its replies (loaded when opened).
 */
export function CommentItem({
  comment,
  me,
  videoId,
  onDeleted,
  onReplyCount,
}: {
  comment: WatchComment;
  me: Me;
  videoId: string;
  onDeleted: (comment: WatchComment) => void;
  /** A reply was added (+1) or removed (-1) under this comment. */
  onReplyCount?: (delta: number) => void;
}) {
  const [deleting, setDeleting] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [replying, setReplying] = useState(false);
  const isReply = comment.parentId !== null;
  const author = authorLabel(comment, me);
  const href = authorHref(comment);

  const remove = async () => {
    setDeleting(true);
    setError(null);
    try {
      await call(api.DELETE("/v1/comments/{id}", { params: { path: { id: comment.id } } }));
      onDeleted(comment);
    } catch (caught) {
      setError(caught);
      setDeleting(false);
    }
  };

  return (
    <li class="comment">
      <article aria-label={`Comment by ${author}`}>
        <header class="comment-meta">
          {href ? (
            <a href={href} class="comment-author">
              {author}
            </a>
          ) : (
            <span class="comment-author">{author}</span>
          )}
          <time dateTime={comment.createdAt} class="muted">
            {formatAgo(comment.createdAt)}
          </time>
        </header>
        <p class="comment-body">{comment.body}</p>
        <div class="comment-actions">
          {!isReply && me.userId && (
            <button
              type="button"
              class="link-button"
              aria-expanded={replying}
              onClick={() => setReplying(!replying)}
            >
              Reply
            </button>
          )}
          {canDelete(comment, me) && (
            <button
              type="button"
              class="link-button danger"
              disabled={deleting}
              onClick={() => void remove()}
            >
              Delete<span class="visually-hidden"> comment by {author}</span>
            </button>
          )}
        </div>
        {error ? <ErrorNotice error={error} /> : null}
      </article>
      {!isReply && (
        <Replies
          parent={comment}
          me={me}
          videoId={videoId}
          replying={replying}
          onReplyDone={() => setReplying(false)}
          onReplyCount={onReplyCount}
          author={author}
        />
      )}
    </li>
  );
}

/** A top-level comment's replies: hidden until opened, then a page at a time; a new reply shows at once. */
function Replies({
  parent,
  me,
  videoId,
  replying,
  onReplyDone,
  onReplyCount,
  author,
}: {
  parent: WatchComment;
  me: Me;
  videoId: string;
  replying: boolean;
  onReplyDone: () => void;
  onReplyCount?: (delta: number) => void;
  author: string;
}) {
  const [open, setOpen] = useState(false);
  const [replies, setReplies] = useState<WatchComment[]>([]);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [count, setCount] = useState(parent.replyCount);

  const load = async (from: string | undefined) => {
    setLoading(true);
    setError(null);
    try {
      const page = await call(
        api.GET("/v1/comments/{id}/replies", {
          params: { path: { id: parent.id }, query: from ? { cursor: from } : {} },
        }),
      );
      setReplies((shown) => appendPage(from ? shown : [], page.comments));
      setCursor(page.nextCursor);
    } catch (caught) {
      setError(caught);
    } finally {
      setLoading(false);
    }
  };

  const toggle = () => {
    if (!open && cursor === undefined) void load(undefined);
    setOpen(!open);
  };
  const posted = (reply: WatchComment) => {
    setReplies((shown) => [reply, ...shown]);
    setCount((n) => n + 1);
    onReplyCount?.(1);
    if (!open && cursor === undefined) void load(undefined);
    setOpen(true);
    onReplyDone();
  };
  const deleted = (reply: WatchComment) => {
    setReplies((shown) => shown.filter((r) => r.id !== reply.id));
    setCount((n) => Math.max(0, n - 1));
    onReplyCount?.(-1);
  };
  const listId = `replies-${parent.id}`;

  return (
    <div class="replies">
      {replying && (
        <CommentForm
          videoId={videoId}
          parentId={parent.id}
          label={`Reply to ${author}`}
          submitLabel="Reply"
          onPosted={posted}
          onCancel={onReplyDone}
        />
      )}
      {count > 0 && (
        <button
          type="button"
          class="link-button"
          aria-expanded={open}
          aria-controls={listId}
          onClick={toggle}
        >
          {open ? "Hide replies" : `Show ${formatCount(count, "reply", "replies")}`}
        </button>
      )}
      <div id={listId} hidden={!open}>
        {replies.length > 0 && (
          <ol class="comment-list reply-list">
            {replies.map((reply) => (
              <CommentItem key={reply.id} comment={reply} me={me} videoId={videoId} onDeleted={deleted} />
            ))}
          </ol>
        )}
        {error ? <ErrorNotice error={error} onRetry={() => void load(cursor ?? undefined)} /> : null}
        {loading && <Loading label="Loading replies" />}
        {cursor && !loading && !error && (
          <button type="button" class="link-button" onClick={() => void load(cursor)}>
            More replies
          </button>
        )}
      </div>
    </div>
  );
}
