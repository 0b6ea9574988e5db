import { api, ok, type Video, type VideoPage } from '../../api/client';
import type { Details } from '../../components/VideoFields';

export async function mine(owner: string, cursor: string | undefined): Promise<VideoPage> {
  return ok(await api.GET('/api/v1/videos', { params: { query: { owner, limit: 24, cursor } } }));
}

export async function update(id: string, d: Details): Promise<Video> {
  return ok(
    await api.PATCH('/api/v1/videos/{id}', {
      params: { path: { id } },
      body: { title: d.title, description: d.description, tags: d.tags, visibility: d.visibility },
    }),
  );
}

export async function remove(id: string): Promise<void> {
  const r = await api.DELETE('/api/v1/videos/{id}', { params: { path: { id } } });
  if (!r.response.ok) ok(r);
}

export async function retry(id: string): Promise<Video> {
  return ok(await api.POST('/api/v1/videos/{id}/retry', { params: { path: { id } } }));
}
