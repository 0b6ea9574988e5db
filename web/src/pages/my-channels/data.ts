import { api, apiFetch, ok, problemOf, type Ban, type Channel, type CommentPolicy, type WatchedWords } from '../../api/client';

export async function myChannels(): Promise<Channel[]> {
  return ok(await api.GET('/api/v1/users/me/channels'));
}

export async function createChannel(b: { handle: string; display_name?: string; description?: string }): Promise<Channel> {
  return ok(await api.POST('/api/v1/channels', { body: b }));
}

export async function updateChannel(
  handle: string,
  b: { display_name?: string; description?: string; default_comment_policy?: CommentPolicy },
): Promise<Channel> {
  return ok(await api.PATCH('/api/v1/channels/{handle}', { params: { path: { handle } }, body: b }));
}

export async function deleteChannel(handle: string): Promise<void> {
  const r = await api.DELETE('/api/v1/channels/{handle}', { params: { path: { handle } } });
  if (!r.response.ok) ok(r);
}

/** Uploads `file` as the channel's avatar; the server checks it is an image and scales it. */
export async function uploadAvatar(handle: string, file: File): Promise<Channel> {
  const res = await apiFetch(`/api/v1/channels/${encodeURIComponent(handle)}/avatar`, {
    method: 'PUT',
    headers: { 'Content-Type': file.type || 'application/octet-stream' },
    body: file,
  });
  if (!res.ok) throw await problemOf(res);
  return (await res.json()) as Channel;
}

/** Removes the channel's avatar. */
export async function removeAvatar(handle: string): Promise<void> {
  const r = await api.DELETE('/api/v1/channels/{handle}/avatar', { params: { path: { handle } } });
  if (!r.response.ok) ok(r);
}

export async function channelWords(handle: string): Promise<WatchedWords> {
  return ok(await api.GET('/api/v1/channels/{handle}/watched-words', { params: { path: { handle } } }));
}

export async function saveChannelWords(handle: string, w: WatchedWords): Promise<WatchedWords> {
  return ok(await api.PUT('/api/v1/channels/{handle}/watched-words', { params: { path: { handle } }, body: w }));
}

/** The accounts banned from commenting on the channel (by "reject and ban"). */
export async function bans(handle: string): Promise<Ban[]> {
  return ok(await api.GET('/api/v1/channels/{handle}/bans', { params: { path: { handle } } }));
}

export async function unban(handle: string, username: string): Promise<void> {
  const r = await api.DELETE('/api/v1/channels/{handle}/bans/{username}', { params: { path: { handle, username } } });
  if (!r.response.ok) ok(r);
}
