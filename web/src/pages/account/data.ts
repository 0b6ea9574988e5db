import { api, ok } from '../../api/client';
import type { ActiveStream } from '../../api/pending';

export async function streams(): Promise<ActiveStream[]> {
  return ok(await api.GET('/api/v1/users/me/streams')).streams;
}
