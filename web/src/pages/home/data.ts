import { api, ok, type TrendingItem, type VideoPage } from '../../api/client';
import { tokenReady } from '../../session';

export const WINDOWS = ['1h', '24h', '7d'] as const;
export type Window = (typeof WINDOWS)[number];

export const PAGE = 24;

export async function trending(window: Window): Promise<TrendingItem[]> {
  const list = ok(await api.GET('/api/v1/videos/trending', { params: { query: { window, limit: 12 } } }));
  return list.items;
}

/** The newest videos: public ones, plus the signed-in viewer's own (so it waits for the start-up
 * refresh; with no session to restore that is immediate). */
export async function latest(cursor: string | undefined): Promise<VideoPage> {
  if (!cursor && warm) {
    const w = warm;
    warm = null;
    return w;
  }
  await tokenReady();
  return ok(await api.GET('/api/v1/videos', { params: { query: { limit: PAGE, cursor } } }));
}

let warm: Promise<VideoPage> | null = null;

/** The first page, asked for while the page's code is still loading (home is the landing page:
 * its data should not wait for its code). Used once, by the first `latest()`. */
export function warmLatest(): void {
  warm ??= latest(undefined);
  warm.catch(() => (warm = null));
}
