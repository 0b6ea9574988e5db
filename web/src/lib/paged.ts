// Cursor paging (`cursor` / `next_cursor`) for lists that grow as the user scrolls.
//
// A cursor can expire: the catalogue answers 410 `cursor_expired` when the ranking a cursor
// continues is gone (GET /api/v1/videos, GET /api/v1/search). The list then starts over: the
// first page replaces what was shown (so no card appears twice), and `notice` tells the user
// why the list jumped. A second expiry in a row, before any next page arrived, stops there with
// the problem shown; "Try again" starts over once more.

import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { toProblem, type ApiProblem } from '../api/client';

export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}

export interface Paged<T> {
  items: T[];
  busy: boolean;
  done: boolean;
  error: ApiProblem | null;
  /** A short word for the user about the list itself (it started over), or null. */
  notice: string | null;
  more: () => void;
  /** Replaces one item in place (after an edit), or removes it when `next` is null. */
  update: (pick: (t: T) => boolean, next: T | null) => void;
  reload: () => void;
}

/** The problem the catalogue answers for a cursor whose ranking is gone. */
export function isCursorExpired(p: ApiProblem): boolean {
  return p.status === 410 && p.code === 'cursor_expired';
}

export const STARTED_OVER = 'The list changed while you were scrolling, so it started again from the top.';

export function usePaged<T>(load: (cursor: string | undefined) => Promise<Page<T>>, deps: unknown[]): Paged<T> {
  const [items, setItems] = useState<T[]>([]);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(false);
  const [error, setError] = useState<ApiProblem | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [generation, setGeneration] = useState(0);
  const cursor = useRef<string | undefined>(undefined);
  const inFlight = useRef(false);
  const gen = useRef(0);
  /** Whether the list started over and no next page came since (a second expiry stops). */
  const restarted = useRef(false);

  const fetchPage = useCallback(
    (first: boolean) => {
      if (inFlight.current) return;
      inFlight.current = true;
      const mine = gen.current;
      setBusy(true);
      setError(null);
      let again = false;
      load(first ? undefined : cursor.current)
        .then((page) => {
          if (mine !== gen.current) return;
          if (!first) restarted.current = false;
          cursor.current = page.next_cursor ?? undefined;
          setItems((prev) => (first ? page.items : prev.concat(page.items)));
          // A page can come back empty and still have a next cursor (every hit on it was deleted or
          // hidden since the index saw it): only a missing cursor ends the list.
          setDone(!page.next_cursor);
        })
        .catch((e: unknown) => {
          if (mine !== gen.current) return;
          const p = toProblem(e);
          if (!first && isCursorExpired(p) && !restarted.current) {
            // Start over from the first page, which replaces the items when it comes.
            restarted.current = true;
            cursor.current = undefined;
            setNotice(STARTED_OVER);
            again = true;
            return;
          }
          setError(p);
        })
        .finally(() => {
          if (mine === gen.current) {
            inFlight.current = false;
            setBusy(false);
            if (again) fetchPage(true);
          }
        });
    },
    deps,
  );

  useEffect(() => {
    gen.current++;
    inFlight.current = false;
    cursor.current = undefined;
    restarted.current = false;
    setItems([]);
    setDone(false);
    setNotice(null);
    fetchPage(true);
  }, [fetchPage, generation]);

  const more = useCallback(() => {
    if (done) return;
    // After an expiry that stopped the list, trying again starts over.
    if (error && isCursorExpired(error)) {
      restarted.current = false;
      cursor.current = undefined;
    }
    // No cursor: the first page never came (or is to come again); it replaces the items.
    fetchPage(cursor.current === undefined);
  }, [done, error, fetchPage]);

  const update = useCallback((pick: (t: T) => boolean, next: T | null) => {
    setItems((prev) => (next === null ? prev.filter((t) => !pick(t)) : prev.map((t) => (pick(t) ? next : t))));
  }, []);

  const reload = useCallback(() => setGeneration((g) => g + 1), []);

  return { items, busy, done, error, notice, more, update, reload };
}
