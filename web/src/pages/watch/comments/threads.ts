// The comment threads shown under a video, as plain data: what a page, a live event or the
// user's own action does to them. Pure functions, so the component only holds the result.

import type { Comment } from '../../../api/client';

export interface Thread {
  root: Comment;
  /** The replies shown, oldest first: the first few from the page, then those loaded with
   * "more replies" and those that arrived live. */
  replies: Comment[];
  /** Whether every reply was loaded (no "more replies" to ask for). */
  allReplies: boolean;
}

export function fromPage(items: Comment[]): Thread[] {
  return items.map((c) => ({ root: c, replies: c.first_replies ?? [], allReplies: (c.first_replies ?? []).length >= c.replies }));
}

/** Appends a next page, leaving out threads already shown (a live arrival, or a pin). */
export function appendPage(threads: Thread[], items: Comment[]): Thread[] {
  const seen = new Set(threads.map((t) => t.root.id));
  return threads.concat(fromPage(items.filter((c) => !seen.has(c.id))));
}

/** The pinned thread first, the others as they came. */
export function ordered(threads: Thread[]): Thread[] {
  const pinned = threads.filter((t) => t.root.pinned);
  return pinned.length ? pinned.concat(threads.filter((t) => !t.root.pinned)) : threads;
}

/** Merges loaded replies into a thread's (by id, in the server's order, live ones after). */
export function withReplies(threads: Thread[], threadId: string, loaded: Comment[], all: boolean): Thread[] {
  return threads.map((t) => {
    if (t.root.id !== threadId) return t;
    const ids = new Set(loaded.map((r) => r.id));
    return { ...t, replies: loaded.concat(t.replies.filter((r) => !ids.has(r.id))), allReplies: all };
  });
}

/** A tombstone: a deleted comment that stays because something answers it. */
function tombstone(c: Comment): Comment {
  return { ...c, deleted: true, text: null, author: null, links: [], mentions: [], pinned: false };
}

/** What a comment as it is now (a live event, or the answer to the user's own action) does to
 * the threads, and how the visible count moves. */
export function apply(threads: Thread[], c: Comment): { threads: Thread[]; delta: number } {
  const counts = (x: Comment) => !x.deleted && !x.held;
  if (c.thread_id === c.id || !c.thread_id) {
    const i = threads.findIndex((t) => t.root.id === c.id);
    let next = threads;
    if (c.pinned) next = next.map((t) => (t.root.pinned && t.root.id !== c.id ? { ...t, root: { ...t.root, pinned: false } } : t));
    if (i < 0) {
      if (c.deleted) return { threads: next, delta: 0 };
      return { threads: fromPage([c]).concat(next), delta: counts(c) ? 1 : 0 };
    }
    const old = threads[i]!.root;
    const delta = (counts(c) ? 1 : 0) - (counts(old) ? 1 : 0);
    // Deleted without replies: gone. With replies: a placeholder.
    if (c.deleted && c.replies === 0 && next[i]!.replies.length === 0) return { threads: next.filter((t) => t.root.id !== c.id), delta };
    const root = c.deleted ? tombstone({ ...old, ...c }) : { ...c, first_replies: [] };
    return { threads: next.map((t) => (t.root.id === c.id ? { ...t, root } : t)), delta };
  }
  const ti = threads.findIndex((t) => t.root.id === c.thread_id);
  if (ti < 0) return { threads, delta: 0 };
  const t = threads[ti]!;
  const ri = t.replies.findIndex((r) => r.id === c.id);
  let replies: Comment[];
  let delta: number;
  let rootReplies = t.root.replies;
  if (ri < 0) {
    if (c.deleted) return { threads, delta: 0 };
    replies = t.replies.concat(c);
    delta = counts(c) ? 1 : 0;
    rootReplies += delta;
  } else {
    const old = t.replies[ri]!;
    delta = (counts(c) ? 1 : 0) - (counts(old) ? 1 : 0);
    rootReplies += delta;
    const answered = t.replies.some((r) => r.in_reply_to === c.id && r.id !== c.id);
    if (c.deleted && !answered) replies = t.replies.filter((r) => r.id !== c.id);
    else replies = t.replies.map((r) => (r.id === c.id ? (c.deleted ? tombstone({ ...old, ...c }) : c) : r));
  }
  const root = { ...t.root, replies: Math.max(0, rootReplies) };
  return { threads: threads.map((x, k) => (k === ti ? { ...x, root, replies } : x)), delta };
}

/** The user muted an account: none of its comments shows any more. */
export function withoutAuthor(threads: Thread[], authorId: string): Thread[] {
  return threads
    .filter((t) => t.root.author?.id !== authorId)
    .map((t) => ({ ...t, replies: t.replies.filter((r) => r.author?.id !== authorId) }));
}
