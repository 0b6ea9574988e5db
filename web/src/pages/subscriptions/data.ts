import { api, ok } from '../../api/client';

export async function channels(cursor: string | undefined) {
  return ok(await api.GET('/api/v1/users/me/subscriptions', { params: { query: { limit: 50, cursor } } }));
}
