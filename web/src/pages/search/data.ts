import { api, ok, type VideoPage } from '../../api/client';

export interface Filters {
  q: string;
  tag: string;
  owner: string;
}

export function filtersOf(query: URLSearchParams): Filters {
  return { q: query.get('q') ?? '', tag: query.get('tag') ?? '', owner: query.get('owner') ?? '' };
}

export function hasAny(f: Filters): boolean {
  return !!(f.q.trim() || f.tag.trim() || f.owner.trim());
}

export function toQuery(f: Filters): string {
  const p = new URLSearchParams();
  for (const k of ['q', 'tag', 'owner'] as const) if (f[k].trim()) p.set(k, f[k].trim());
  const s = p.toString();
  return s ? `?${s}` : '';
}

export async function search(f: Filters, cursor: string | undefined): Promise<VideoPage> {
  return ok(
    await api.GET('/api/v1/videos', {
      params: {
        query: {
          limit: 24,
          cursor,
          q: f.q.trim() || undefined,
          tag: f.tag.trim() || undefined,
          owner: f.owner.trim() || undefined,
        },
      },
    }),
  );
}
