import { useEffect, useState } from 'preact/hooks';
import { posterUrl, toProblem, type ApiProblem, type Notification } from '../../api/client';
import { MoreOnScroll } from '../../components/MoreOnScroll';
import { Status } from '../../components/Status';
import { ago } from '../../lib/format';
import { watchInbox } from '../../lib/notifications';
import { usePaged } from '../../lib/paged';
import { markRead, notifications } from './data';
import { NotificationText } from './NotificationText';

function Item({ n, onRead }: { n: Notification; onRead: (id: string) => void }) {
  // Only a published video's poster: the URL a notification keeps is not signed, and the
  // user's own video may be private.
  const poster =
    n.video && n.type === 'new_video_from_subscription' ? posterUrl({ has_poster: !!n.video.thumbnail_url, thumbnail_url: n.video.thumbnail_url }) : null;
  return (
    <li class={n.read ? 'notification' : 'notification unread'}>
      {poster ? <img src={poster} alt="" width={96} height={54} loading="lazy" /> : <span class="notification-icon" aria-hidden="true" />}
      <div class="notification-body">
        <p>
          {!n.read && <span class="sr-only">Unread: </span>}
          <NotificationText n={n} />
        </p>
        <p class="muted small">{ago(n.created_at)}</p>
      </div>
      {!n.read && (
        <button type="button" class="secondary small" onClick={() => onRead(n.id)}>
          Mark as read
        </button>
      )}
    </li>
  );
}

export default function NotificationsPage() {
  const [unreadOnly, setUnreadOnly] = useState(false);
  const list = usePaged((cursor) => notifications(unreadOnly, cursor), [unreadOnly]);
  const [fresh, setFresh] = useState<Notification[]>([]);
  const [unread, setUnread] = useState<number | null>(null);
  const [error, setError] = useState<ApiProblem | null>(null);
  useEffect(
    () =>
      watchInbox({
        unread: setUnread,
        notification: (n) => setFresh((f) => (f.some((x) => x.id === n.id) ? f : [n, ...f])),
      }),
    [],
  );
  useEffect(() => setFresh([]), [unreadOnly]);

  const shown = [...fresh.filter((n) => !list.items.some((x) => x.id === n.id)), ...list.items];
  const read = async (ids: string[] | null) => {
    setError(null);
    try {
      setUnread(await markRead(ids));
      const mark = (n: Notification) => (ids === null || ids.includes(n.id) ? { ...n, read: true } : n);
      setFresh((f) => f.map(mark));
      for (const n of list.items) if (!n.read && (ids === null || ids.includes(n.id))) list.update((x) => x.id === n.id, mark(n));
    } catch (e) {
      setError(toProblem(e));
    }
  };
  return (
    <>
      <div class="section-head">
        <h1>Notifications</h1>
        <a class="button secondary" href="/me/notifications/settings">
          Settings
        </a>
      </div>
      <div class="actions">
        <label class="check">
          <input type="checkbox" checked={unreadOnly} onChange={(e) => setUnreadOnly(e.currentTarget.checked)} /> Unread only
        </label>
        <button type="button" class="secondary" disabled={!unread} onClick={() => void read(null)}>
          Mark all as read
        </button>
        <p role="status" class="muted small">
          {unread == null ? '' : unread === 0 ? 'Nothing unread.' : `${unread} unread`}
        </p>
      </div>
      <Status error={error} />
      {list.done && !list.error && shown.length === 0 && <p class="muted">{unreadOnly ? 'Nothing unread.' : 'No notifications yet.'}</p>}
      <ul class="notifications" aria-label="Notifications">
        {shown.map((n) => (
          <Item key={n.id} n={n} onRead={(id) => void read([id])} />
        ))}
      </ul>
      <MoreOnScroll list={list} what="notifications" />
    </>
  );
}
