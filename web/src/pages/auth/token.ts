// A page opened from a mailed link reads the link's token once, then takes it out of the address
// bar (history.replaceState: no reload, no new history entry), so it is not left in the history,
// a screenshot or a copied address. The token stays in memory for this page only.

import { useEffect, useState } from 'preact/hooks';

const held = new Map<string, string>();

/** The `token` of the address when the page opened (kept if the page is shown again), and the
 * address without it from then on. */
export function useMailedToken(path: string): string | null {
  const [token] = useState<string | null>(() => {
    const q = new URLSearchParams(location.search);
    const t = q.get('token');
    if (t) {
      held.set(path, t);
      q.delete('token');
      const rest = q.toString();
      history.replaceState(history.state, '', location.pathname + (rest ? `?${rest}` : '') + location.hash);
      return t;
    }
    return held.get(path) ?? null;
  });
  return token;
}

/** The page sends no `Referer` at all: index.html already says so for the whole console
 * (`<meta name="referrer" content="no-referrer">`); a page that holds a token makes sure of
 * it, in case that ever changes, and never loosens it again (the browser applies a referrer
 * meta when it is inserted, and keeps the policy when it is removed). */
export function useNoReferrer(): void {
  useEffect(() => {
    const metas = Array.from(document.head.querySelectorAll<HTMLMetaElement>('meta[name="referrer"]'));
    if (metas.at(-1)?.content === 'no-referrer') return;
    const meta = document.createElement('meta');
    meta.name = 'referrer';
    meta.content = 'no-referrer';
    document.head.appendChild(meta);
  }, []);
}

/** Forgets a used token (a reload then shows the page without it). */
export function forgetToken(path: string): void {
  held.delete(path);
}
