import { useEffect, useRef } from 'preact/hooks';
import type { Paged } from '../lib/paged';
import { Status } from './Status';

/** The end of a paged list: loads the next page when it scrolls into view, with a button for
 * keyboards and for when the observer is not there. Says so when the list started over (an
 * expired cursor). */
export function MoreOnScroll<T>({ list, what }: { list: Paged<T>; what: string }) {
  const sentinel = useRef<HTMLDivElement>(null);
  const { more, done, busy, error, notice } = list;
  useEffect(() => {
    const el = sentinel.current;
    if (!el || done || error || typeof IntersectionObserver === 'undefined') return;
    const io = new IntersectionObserver(
      (entries) => {
        if (entries.some((e) => e.isIntersecting)) more();
      },
      { rootMargin: '600px 0px' },
    );
    io.observe(el);
    return () => io.disconnect();
  }, [more, done, error, busy]);

  return (
    <div class="more" ref={sentinel}>
      {notice && (
        <p role="status">
          {notice}
        </p>
      )}
      <Status busy={busy ? `Loading ${what}…` : null} error={error} />
      {!done && !busy && (
        <button type="button" class="secondary" onClick={more}>
          {error ? 'Try again' : `More ${what}`}
        </button>
      )}
      {done && list.items.length > 0 && <p class="muted">That is all.</p>}
    </div>
  );
}
