// The search page's state and data. Everything the user chose lives in the URL query string
// (`/search?q=…&tag=…&owner=…&duration=…&date=…&sort=…`) so reload, back and shared links give
// the same search; the API's own parameters are worked out from it at request time.

import { api, ok, type SearchPage } from '../../api/client';
import { tokenReady } from '../../session';

export const SORTS = ['relevance', 'newest', 'views'] as const;
export const DURATIONS = ['short', 'medium', 'long'] as const;
export const DATES = ['today', 'week', 'month', 'year'] as const;

export type Duration = (typeof DURATIONS)[number];
export type Uploaded = (typeof DATES)[number];

export const SORT_LABEL: Record<(typeof SORTS)[number], string> = {
  relevance: 'Relevance',
  newest: 'Newest',
  views: 'Most viewed',
};
export const DURATION_LABEL: Record<Duration, string> = {
  short: 'Under 4 minutes',
  medium: '4–20 minutes',
  long: 'Over 20 minutes',
};
export const DATE_LABEL: Record<Uploaded, string> = {
  today: 'Today',
  week: 'This week',
  month: 'This month',
  year: 'This year',
};

/** The search as the URL holds it ('' for "any"). */
export interface SearchState {
  q: string;
  tag: string;
  owner: string;
  duration: Duration | '';
  date: Uploaded | '';
  /** As given: an unknown sort goes to the server, which explains what it takes. */
  sort: string;
}

export const EMPTY: SearchState = { q: '', tag: '', owner: '', duration: '', date: '', sort: '' };

function oneOf<T extends string>(all: readonly T[], v: string | null): T | '' {
  return v && (all as readonly string[]).includes(v) ? (v as T) : '';
}

export function stateOf(query: URLSearchParams): SearchState {
  return {
    q: query.get('q') ?? '',
    tag: query.get('tag') ?? '',
    owner: query.get('owner') ?? '',
    duration: oneOf(DURATIONS, query.get('duration')),
    date: oneOf(DATES, query.get('date')),
    sort: query.get('sort') ?? '',
  };
}

/** The canonical query string (with its `?`, or ''): fixed order, blanks and the default sort
 * left out, so one search has one URL. */
export function toQuery(s: SearchState): string {
  const p = new URLSearchParams();
  const put = (k: string, v: string) => {
    if (v.trim()) p.set(k, v.trim());
  };
  put('q', s.q);
  put('tag', s.tag);
  put('owner', s.owner);
  put('duration', s.duration);
  put('date', s.date);
  if (s.sort !== 'relevance') put('sort', s.sort);
  const str = p.toString();
  return str ? `?${str}` : '';
}

/** Whether there is anything to search for (else the page shows a prompt, not every video). */
export function hasAny(s: SearchState): boolean {
  return toQuery(s) !== '';
}

/** Seconds, for `duration_min` / `duration_max`. */
const DURATION_RANGE: Record<Duration, [number | undefined, number | undefined]> = {
  short: [undefined, 240],
  medium: [240, 1200],
  long: [1200, undefined],
};

/** The start of the period, in the viewer's time zone, as RFC 3339 (UTC). */
export function since(d: Uploaded, now = new Date()): string {
  const y = now.getFullYear();
  const m = now.getMonth();
  const day = now.getDate();
  let start: Date;
  if (d === 'today') start = new Date(y, m, day);
  // Weeks start on Monday (ISO 8601).
  else if (d === 'week') start = new Date(y, m, day - ((now.getDay() + 6) % 7));
  else if (d === 'month') start = new Date(y, m, 1);
  else start = new Date(y, 0, 1);
  return start.toISOString();
}

export const PAGE = 24;

export async function search(s: SearchState, cursor: string | undefined): Promise<SearchPage> {
  const [dmin, dmax] = s.duration ? DURATION_RANGE[s.duration] : [undefined, undefined];
  // The viewer's own videos are listed too: wait for the session restored at start-up.
  await tokenReady();
  return ok(
    await api.GET('/api/v1/search', {
      params: {
        query: {
          q: s.q.trim() || undefined,
          tag: s.tag.trim() || undefined,
          owner: s.owner.trim() || undefined,
          duration_min: dmin,
          duration_max: dmax,
          uploaded_after: s.date ? since(s.date) : undefined,
          sort: s.sort || undefined,
          limit: PAGE,
          cursor,
        },
      },
    }),
  );
}
