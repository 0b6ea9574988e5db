import { api, ok, type Schemas } from '../../api/client';

export async function history(cursor: string | undefined): Promise<Schemas['HistoryPage']> {
  return ok(await api.GET('/api/v1/users/me/history', { params: { query: { limit: 24, cursor } } }));
}
