import { api, ok, type ActiveStream } from '../../api/client';

export async function streams(): Promise<ActiveStream[]> {
  return ok(await api.GET('/api/v1/users/me/streams')).streams;
}
