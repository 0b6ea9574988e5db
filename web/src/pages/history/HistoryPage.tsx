import { MoreOnScroll } from '../../components/MoreOnScroll';
import { ago, duration } from '../../lib/format';
import { usePaged } from '../../lib/paged';
import { history } from './data';

export default function HistoryPage() {
  const list = usePaged(history, []);
  return (
    <>
      <h1>History</h1>
      {list.done && !list.error && list.items.length === 0 && (
        <p>
          Nothing watched yet. <a href="/">Find something to watch</a>.
        </p>
      )}
      {list.items.length > 0 && (
        <section aria-labelledby="continue-h">
          <h2 id="continue-h">Continue watching</h2>
          <ul class="rows" aria-label="Watch history">
            {list.items.map((h) => {
              const pct = Math.round(Math.min(1, Math.max(0, h.progress)) * 100);
              return (
                <li class="row" key={h.video_id}>
                  <div class="row-body">
                    <h3 class="row-title" dir="auto">
                      <a href={`/watch/${encodeURIComponent(h.video_id)}`}>{h.title}</a>
                    </h3>
                    <p class="muted small">
                      {h.completed ? 'Watched' : `Stopped at ${duration(h.position)} of ${duration(h.duration_secs)}`} ·{' '}
                      {ago(h.last_watched_at)}
                    </p>
                    <progress max={100} value={pct} aria-label={`Watched ${pct}% of ${h.title}`}>
                      {pct}%
                    </progress>
                  </div>
                </li>
              );
            })}
          </ul>
        </section>
      )}
      <MoreOnScroll list={list} what="history" />
    </>
  );
}
