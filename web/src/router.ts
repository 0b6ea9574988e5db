// A tiny history router: the location, navigation, and link interception. The route table is
// src/routes.ts.

import { useEffect, useState } from 'preact/hooks';

export interface Loc {
  path: string;
  query: URLSearchParams;
}

const listeners = new Set<() => void>();

function notify(): void {
  for (const l of listeners) l();
}

/** The current path with its query, as a return path for sign-in. */
export function currentPath(): string {
  return location.pathname + location.search;
}

/** Moves to an in-app path (no full page load). */
export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  const url = new URL(to, location.href);
  if (url.origin !== location.origin) {
    location.assign(url.href);
    return;
  }
  const next = url.pathname + url.search + url.hash;
  if (next === currentPath() + location.hash) {
    if (!opts.replace) notify();
    return;
  }
  if (opts.replace) history.replaceState(null, '', next);
  else history.pushState(null, '', next);
  notify();
}

/** Only in-app paths may be a `next`: never another origin (`//evil`, `https://…`). */
export function safeNext(next: string | null | undefined, fallback = '/'): string {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return fallback;
  return next;
}

export function useLocation(): Loc {
  const [, tick] = useState(0);
  useEffect(() => {
    const l = () => tick((n) => n + 1);
    listeners.add(l);
    return () => {
      listeners.delete(l);
    };
  }, []);
  return { path: location.pathname, query: new URLSearchParams(location.search) };
}

/** Starts listening to back/forward and to clicks on same-origin links. */
export function startRouter(): void {
  addEventListener('popstate', notify);
  document.addEventListener('click', (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = (e.target as Element | null)?.closest?.('a');
    if (!a || !a.href || a.target || a.hasAttribute('download') || a.dataset.external !== undefined) return;
    const url = new URL(a.href);
    if (url.origin !== location.origin) return;
    // A link to a place on this page (the skip link): the browser handles it.
    if (url.hash && url.pathname === location.pathname && url.search === location.search) return;
    if (url.pathname.startsWith('/api/') || url.pathname.startsWith('/hls/') || url.pathname.startsWith('/embed/')) return;
    e.preventDefault();
    navigate(url.pathname + url.search + url.hash);
  });
}

export interface Match {
  params: Record<string, string>;
}

/** Matches `/watch/:id` style patterns. */
export function match(pattern: string, path: string): Match | null {
  const p = pattern.split('/').filter(Boolean);
  const s = path.split('/').filter(Boolean);
  if (p.length !== s.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < p.length; i++) {
    const seg = p[i] as string;
    const got = s[i] as string;
    if (seg.startsWith(':')) {
      try {
        params[seg.slice(1)] = decodeURIComponent(got);
      } catch {
        return null;
      }
    } else if (seg !== got) return null;
  }
  return { params };
}
