import { api, ok, type AuditEntry, type QueueItem, type ReportReason, type ReportState, type SuspendedAccount, type WatchedWords } from '../../api/client';

export interface QueueFilter {
  kind?: 'report' | 'held_comment';
  reason?: ReportReason;
  state?: ReportState;
}

type PageOf<T> = { items: T[]; next_cursor?: string | null };

export async function queue(f: QueueFilter, cursor: string | undefined): Promise<PageOf<QueueItem>> {
  return ok(await api.GET('/api/v1/moderation/queue', { params: { query: { ...f, cursor, limit: 30 } } }));
}

/** Every suspended account, newest suspension first (one list, not paged). */
export async function suspended(): Promise<PageOf<SuspendedAccount>> {
  return ok(await api.GET('/api/v1/moderation/suspended'));
}

export async function audit(cursor: string | undefined): Promise<PageOf<AuditEntry>> {
  return ok(await api.GET('/api/v1/moderation/audit', { params: { query: { cursor, limit: 50 } } }));
}

export async function instanceWords(): Promise<WatchedWords> {
  return ok(await api.GET('/api/v1/moderation/watched-words'));
}

export async function saveInstanceWords(w: WatchedWords): Promise<WatchedWords> {
  return ok(await api.PUT('/api/v1/moderation/watched-words', { body: w }));
}

export async function suspend(username: string, reason: string): Promise<void> {
  const r = await api.PUT('/api/v1/admin/users/{username}/suspension', { params: { path: { username } }, body: { reason } });
  if (!r.response.ok) ok(r);
}

export async function unsuspend(username: string): Promise<void> {
  const r = await api.DELETE('/api/v1/admin/users/{username}/suspension', { params: { path: { username } } });
  if (!r.response.ok) ok(r);
}
