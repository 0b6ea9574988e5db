import { useEffect, useState } from 'preact/hooks';
import { watchInbox } from '../lib/notifications';

/** The header's bell: a link to the notifications with the unread count, live. */
export function Bell({ here }: { here: boolean }) {
  const [unread, setUnread] = useState<number | null>(null);
  useEffect(() => watchInbox({ unread: setUnread }), []);
  const label = unread ? `Notifications, ${unread} unread` : 'Notifications';
  return (
    <a href="/me/notifications" class="bell" aria-label={label} aria-current={here ? 'page' : undefined}>
      <svg aria-hidden="true" width="20" height="20" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">
        <path d="M6 8a6 6 0 0 1 12 0c0 7 3 9 3 9H3s3-2 3-9" />
        <path d="M10.3 21a1.94 1.94 0 0 0 3.4 0" />
      </svg>
      {!!unread && (
        <span class="bell-count" aria-hidden="true">
          {unread > 99 ? '99+' : unread}
        </span>
      )}
    </a>
  );
}
