import { useEffect, useState } from 'preact/hooks';
import { toProblem, type ApiProblem, type TrendingItem } from '../../api/client';
import { MoreOnScroll } from '../../components/MoreOnScroll';
import { Status } from '../../components/Status';
import { VideoGrid } from '../../components/VideoCard';
import { usePaged } from '../../lib/paged';
import { views } from '../../lib/format';
import { WINDOWS, latest, trending, type Window } from './data';

const WINDOW_LABEL: Record<Window, string> = { '1h': 'Past hour', '24h': 'Past day', '7d': 'Past week' };

function Trending() {
  const [window, setWindow] = useState<Window>('24h');
  const [items, setItems] = useState<TrendingItem[] | null>(null);
  const [error, setError] = useState<ApiProblem | null>(null);
  useEffect(() => {
    let live = true;
    setItems(null);
    setError(null);
    trending(window)
      .then((t) => live && setItems(t))
      .catch((e: unknown) => live && setError(toProblem(e)));
    return () => {
      live = false;
    };
  }, [window]);

  return (
    <section aria-labelledby="trending-h">
      <div class="section-head">
        <h2 id="trending-h">Trending</h2>
        <div role="group" aria-label="Trending window" class="segmented">
          {WINDOWS.map((w) => (
            <button type="button" key={w} aria-pressed={w === window} onClick={() => setWindow(w)}>
              {WINDOW_LABEL[w]}
            </button>
          ))}
        </div>
      </div>
      <Status busy={!items && !error ? 'Loading trending videos…' : null} error={error} />
      {items && items.length === 0 && <p class="muted">Nothing has been watched in this window yet.</p>}
      {items && items.length > 0 && (
        <VideoGrid
          videos={items}
          label={`Trending, ${WINDOW_LABEL[window].toLowerCase()}`}
          extra={(v) => `${views((v as TrendingItem).window_views)} in this window`}
        />
      )}
    </section>
  );
}

export default function HomePage() {
  const list = usePaged(latest, []);
  return (
    <>
      <h1 class="sr-only">Home</h1>
      <Trending />
      <section aria-labelledby="latest-h">
        <h2 id="latest-h">Latest</h2>
        {list.items.length > 0 && <VideoGrid videos={list.items} label="Latest videos" />}
        {list.done && !list.error && list.items.length === 0 && (
          <p class="muted">
            No videos yet. <a href="/upload">Upload the first one</a>.
          </p>
        )}
        <MoreOnScroll list={list} what="videos" />
      </section>
    </>
  );
}
