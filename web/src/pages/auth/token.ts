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

/** While the page is shown, the document sends no `Referer` at all (a `<meta name="referrer">`,
 * which the browser applies as soon as it is inserted); afterwards the server's policy
 * (`same-origin`) again. */
export function useNoReferrer(): void {
  useEffect(() => {
    const meta = document.createElement('meta');
    meta.name = 'referrer';
    meta.content = 'no-referrer';
    document.head.appendChild(meta);
    return () => {
      meta.content = 'same-origin';
      meta.remove();
    };
  }, []);
}

/** Forgets a used token (a reload then shows the page without it). */
export function forgetToken(path: string): void {
  held.delete(path);
}
