import { api, ok, type VideoPage } from '../../api/client';

/** New videos of the channels the caller subscribes to, newest first. */
export async function feed(cursor: string | undefined): Promise<VideoPage> {
  return ok(await api.GET('/api/v1/users/me/subscriptions/videos', { params: { query: { limit: 24, cursor } } }));
}

export async function channels(cursor: string | undefined) {
  return ok(await api.GET('/api/v1/users/me/subscriptions', { params: { query: { limit: 50, cursor } } }));
}
