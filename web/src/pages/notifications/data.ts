import { api, ok, type NotificationSettings, type Schemas } from '../../api/client';
import type { DigestView } from '../../api/pending';

export type EmailMode = Schemas['EmailMode'];

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

/** One type's change: shown on the web or not, and how it is emailed. */
export type TypeChange = { web?: boolean; email?: EmailMode };

/** Saves a change of some types; answers the settings as they are now. */
export async function saveSettings(change: Record<string, TypeChange>): Promise<NotificationSettings> {
  return ok(await api.PUT('/api/v1/users/me/notification-settings', { body: change }));
}

export async function digestSettings(): Promise<DigestView> {
  return ok(await api.GET('/api/v1/users/me/digest-settings'));
}

export async function saveDigest(digest_hour: number, time_zone: string): Promise<DigestView> {
  return ok(await api.PUT('/api/v1/users/me/digest-settings', { body: { digest_hour, time_zone } }));
}
