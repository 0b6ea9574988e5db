import { api, ok, type Channel } from '../../api/client';

export async function myChannels(): Promise<Channel[]> {
  return ok(await api.GET('/api/v1/users/me/channels'));
}

export async function createChannel(b: { handle: string; display_name?: string; description?: string }): Promise<Channel> {
  return ok(await api.POST('/api/v1/channels', { body: b }));
}

export async function updateChannel(handle: string, b: { display_name?: string; description?: string }): Promise<Channel> {
  return ok(await api.PATCH('/api/v1/channels/{handle}', { params: { path: { handle } }, body: b }));
}

export async function deleteChannel(handle: string): Promise<void> {
  const r = await api.DELETE('/api/v1/channels/{handle}', { params: { path: { handle } } });
  if (!r.response.ok) ok(r);
}
