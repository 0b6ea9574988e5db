// Personal blocks: a muted account's comments are not shown to the one who muted it.

import { api, ok, type Muted } from '../api/client';

export async function mutes(): Promise<Muted[]> {
  return ok(await api.GET('/api/v1/users/me/mutes'));
}

export async function mute(username: string): Promise<void> {
  const r = await api.PUT('/api/v1/users/me/mutes/{username}', { params: { path: { username } } });
  if (!r.response.ok) ok(r);
}

export async function unmute(username: string): Promise<void> {
  const r = await api.DELETE('/api/v1/users/me/mutes/{username}', { params: { path: { username } } });
  if (!r.response.ok) ok(r);
}
