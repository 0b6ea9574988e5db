// The signed-in user's inbox live, over the browser's EventSource
// (`/api/v1/users/me/notifications/events`): `unread` (the count, first and after every change)
// and `notification` (each new one). Reconnects with the current access token when the stream
// drops, as src/lib/events.ts does for a video.

import { currentToken, type Notification } from '../api/client';

export interface InboxEvents {
  unread?(n: number): void;
  notification?(n: Notification): void;
}

export function watchInbox(on: InboxEvents): () => void {
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
    // Signed out meanwhile: nothing to follow.
    if (!token) return;
    es = new EventSource(`/api/v1/users/me/notifications/events?access_token=${encodeURIComponent(token)}`);
    es.addEventListener('open', () => {
      delay = 1000;
    });
    es.addEventListener('unread', (e) => {
      const c = parse<{ unread: number }>(e);
      if (c && typeof c.unread === 'number') on.unread?.(c.unread);
    });
    es.addEventListener('notification', (e) => {
      const n = parse<Notification>(e);
      if (n) on.notification?.(n);
    });
    es.addEventListener('error', () => {
      if (closed || !es) return;
      if (es.readyState === EventSource.CLOSED) {
        es = null;
        timer = setTimeout(open, delay);
        delay = Math.min(delay * 2, 30000);
      }
    });
  };

  open();
  return () => {
    closed = true;
    clearTimeout(timer);
    es?.close();
    es = null;
  };
}
