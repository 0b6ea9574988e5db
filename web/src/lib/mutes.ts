// Personal blocks: a muted account's comments are not shown to the one who muted it.

import { api, ok, type AccountRef } from '../api/client';

export async function mutes(cursor: string | undefined): Promise<{ items: AccountRef[]; next_cursor?: string | null }> {
  return ok(await api.GET('/api/v1/users/me/mutes', { params: { query: { cursor, limit: 100 } } }));
}

export async function mute(username: string): Promise<void> {
  const r = await api.PUT('/api/v1/users/me/mutes/{username}', { params: { path: { username } } });
  if (!r.response.ok) ok(r);
}

export async function unmute(username: string): Promise<void> {
  const r = await api.DELETE('/api/v1/users/me/mutes/{username}', { params: { path: { username } } });
  if (!r.response.ok) ok(r);
}
