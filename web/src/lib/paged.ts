// Cursor paging (`cursor` / `next_cursor`) for lists that grow as the user scrolls.

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
  more: () => void;
  /** Replaces one item in place (after an edit), or removes it when `next` is null. */
  update: (pick: (t: T) => boolean, next: T | null) => void;
  reload: () => void;
}

export function usePaged<T>(load: (cursor: string | undefined) => Promise<Page<T>>, deps: unknown[]): Paged<T> {
  const [items, setItems] = useState<T[]>([]);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(false);
  const [error, setError] = useState<ApiProblem | null>(null);
  const [generation, setGeneration] = useState(0);
  const cursor = useRef<string | undefined>(undefined);
  const inFlight = useRef(false);
  const gen = useRef(0);

  const fetchPage = useCallback(
    (first: boolean) => {
      if (inFlight.current) return;
      inFlight.current = true;
      const mine = gen.current;
      setBusy(true);
      setError(null);
      load(first ? undefined : cursor.current)
        .then((page) => {
          if (mine !== gen.current) return;
          cursor.current = page.next_cursor ?? undefined;
          setItems((prev) => (first ? page.items : prev.concat(page.items)));
          setDone(!page.next_cursor || page.items.length === 0);
        })
        .catch((e: unknown) => {
          if (mine === gen.current) setError(toProblem(e));
        })
        .finally(() => {
          if (mine === gen.current) {
            inFlight.current = false;
            setBusy(false);
          }
        });
    },
    deps,
  );

  useEffect(() => {
    gen.current++;
    inFlight.current = false;
    cursor.current = undefined;
    setItems([]);
    setDone(false);
    fetchPage(true);
  }, [fetchPage, generation]);

  const more = useCallback(() => {
    if (!done) fetchPage(false);
  }, [done, fetchPage]);

  const update = useCallback((pick: (t: T) => boolean, next: T | null) => {
    setItems((prev) => (next === null ? prev.filter((t) => !pick(t)) : prev.map((t) => (pick(t) ? next : t))));
  }, []);

  const reload = useCallback(() => setGeneration((g) => g + 1), []);

  return { items, busy, done, error, more, update, reload };
}
