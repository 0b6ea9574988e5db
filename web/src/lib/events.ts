// A video's live events over the browser's EventSource: `video` (the whole video, first and on
// every change), `counts` (views, likes, dislikes), `comment` (a comment as it is now: new,
// edited, pinned, approved, or `deleted: true`; only those the caller may see), `deleted`. Reconnects with the current access
// token when the stream drops (EventSource's own retry would reuse an expired one).

import { currentToken, type Comment, type Counts, type Video } from '../api/client';

export interface VideoEvents {
  video?(v: Video): void;
  counts?(c: Counts & { video_id?: string }): void;
  comment?(c: Comment): void;
  /** The stream is (again) connected: what changed before this is not on it. */
  opened?(): void;
  deleted?(): void;
}

export function watchVideo(id: string, on: VideoEvents): () => void {
  let es: EventSource | null = null;
  let closed = false;
  let delay = 1000;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const parse = <T>(e: MessageEvent): T | null => {
    try {
      return JSON.parse(e.data as string) as T;
    } catch {
      return null;
    }
  };

  const open = () => {
    if (closed) return;
    const token = currentToken();
    const url = `/api/v1/videos/${encodeURIComponent(id)}/events` + (token ? `?access_token=${encodeURIComponent(token)}` : '');
    es = new EventSource(url);
    es.addEventListener('open', () => {
      delay = 1000;
      on.opened?.();
    });
    es.addEventListener('video', (e) => {
      const v = parse<Video>(e);
      if (v) on.video?.(v);
    });
    es.addEventListener('counts', (e) => {
      const c = parse<Counts>(e);
      if (c) on.counts?.(c);
    });
    es.addEventListener('comment', (e) => {
      const c = parse<Comment>(e);
      if (c && typeof c.id === 'string') on.comment?.(c);
    });
    es.addEventListener('deleted', () => {
      on.deleted?.();
      close();
    });
    es.addEventListener('error', () => {
      if (closed || !es) return;
      // Closed for good (an error status, an expired token): open again with a fresh token.
      if (es.readyState === EventSource.CLOSED) {
        es = null;
        timer = setTimeout(open, delay);
        delay = Math.min(delay * 2, 30000);
      }
    });
  };

  const close = () => {
    closed = true;
    clearTimeout(timer);
    es?.close();
    es = null;
  };

  open();
  return close;
}
