import { api, ok, type TrendingItem, type VideoPage } from '../../api/client';

export const WINDOWS = ['1h', '24h', '7d'] as const;
export type Window = (typeof WINDOWS)[number];

export const PAGE = 24;

export async function trending(window: Window): Promise<TrendingItem[]> {
  const list = ok(await api.GET('/api/v1/videos/trending', { params: { query: { window, limit: 12 } } }));
  return list.items;
}

export async function latest(cursor: string | undefined): Promise<VideoPage> {
  return ok(await api.GET('/api/v1/videos', { params: { query: { limit: PAGE, cursor } } }));
}
