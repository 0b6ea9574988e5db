import { api, ok, type Rating, type Video } from '../../api/client';

export async function getVideo(id: string): Promise<Video> {
  return ok(await api.GET('/api/v1/videos/{id}', { params: { path: { id } } }));
}

export async function rate(id: string, rating: Rating) {
  return ok(await api.PUT('/api/v1/videos/{id}/rating', { params: { path: { id } }, body: { rating } }));
}
