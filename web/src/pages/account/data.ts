import { api, ok, type ActiveStream } from '../../api/client';

export async function streams(): Promise<ActiveStream[]> {
  return ok(await api.GET('/api/v1/users/me/streams')).streams;
}

// ---- Issue 24: the account's own settings.

import { apiFetch, problemOf } from '../../api/client';
import type { ExportView } from '../../api/client';

type NoContent = { error?: unknown; response: Response };
function done(r: NoContent): void {
  if (!r.response.ok) ok(r);
}

export async function changePassword(current_password: string, new_password: string): Promise<void> {
  done(await api.PUT('/api/v1/users/me/password', { body: { current_password, new_password } }));
}

export async function changeEmail(current_password: string, email: string): Promise<void> {
  done(await api.PUT('/api/v1/users/me/email', { body: { current_password, email } }));
}

/** The newest export, or null when there is none (404). */
export async function currentExport(): Promise<ExportView | null> {
  const r = await api.GET('/api/v1/users/me/export');
  if (r.response.status === 404) return null;
  return ok(r);
}

export async function startExport(): Promise<ExportView> {
  return ok(await api.POST('/api/v1/users/me/export'));
}

/** Schedules the deletion of the account; answers when it happens. */
export async function deleteAccount(password: string): Promise<string> {
  // `DELETE /users/me` shares its path with `GET /users/me`, which the document lists, so it
  // goes through the plain fetch until the document lists the DELETE too.
  const res = await apiFetch('/api/v1/users/me', {
    method: 'DELETE',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ password }),
  });
  if (!res.ok) throw await problemOf(res);
  return ((await res.json()) as { delete_at: string }).delete_at;
}

export async function cancelDeletion(): Promise<void> {
  done(await api.POST('/api/v1/users/me/deletion/cancel'));
}
