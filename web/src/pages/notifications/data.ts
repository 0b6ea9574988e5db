import { api, ok, type NotificationSettings } from '../../api/client';

export async function notifications(unreadOnly: boolean, cursor: string | undefined) {
  return ok(
    await api.GET('/api/v1/users/me/notifications', {
      params: { query: { limit: 30, cursor, ...(unreadOnly ? { unread: true } : {}) } },
    }),
  );
}

/** Marks some read, or all (`ids` null); the unread count after it. */
export async function markRead(ids: string[] | null): Promise<number> {
  const r = ok(await api.POST('/api/v1/users/me/notifications/read', { body: ids ? { ids } : { all: true } }));
  return r.unread;
}

export async function settings(): Promise<NotificationSettings> {
  return ok(await api.GET('/api/v1/users/me/notification-settings'));
}

export async function saveSettings(change: Partial<Record<keyof NotificationSettings, { web: boolean }>>): Promise<NotificationSettings> {
  return ok(await api.PUT('/api/v1/users/me/notification-settings', { body: change as NotificationSettings }));
}
