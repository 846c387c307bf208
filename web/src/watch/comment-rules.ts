/** Who wrote a comment and who may remove it, said once for the list, the replies and the tests. */
import type { WatchComment } from "./types.ts";

export interface Me {
  /** The signed-in user's id; null when signed out. */
  userId: string | null;
  /** Whether the signed-in user owns the video (from the video's `viewer`). */
  isOwner: boolean;
}

/** The name shown beside a comment: "You", the author's channel name, or a neutral fallback. */
export function authorLabel(comment: WatchComment, me: Me): string {
  if (me.userId !== null && comment.author.id === me.userId) return "You";
  return comment.author.channel?.name ?? "A viewer";
}

/** The author's channel page, when they have one. */
export function authorHref(comment: WatchComment): string | null {
  const handle = comment.author.channel?.handle;
  return handle ? `/c/${encodeURIComponent(handle)}` : null;
}

/** The edge lets a comment's author and the video's owner delete it; the page offers exactly that. */
export function canDelete(comment: WatchComment, me: Me): boolean {
  if (me.userId === null) return false;
  return me.isOwner || comment.author.id === me.userId;
}

/** Appends a page to what is shown, skipping comments already there (a new one can shift pages). */
export function appendPage(shown: WatchComment[], page: WatchComment[]): WatchComment[] {
  const seen = new Set(shown.map((c) => c.id));
  return [...shown, ...page.filter((c) => !seen.has(c.id))];
}

/** A reaction button's click: the same reaction again takes it back, the other one replaces it. */
export function nextReaction<R extends string>(current: R | null, clicked: R): R | null {
  return current === clicked ? null : clicked;
}
