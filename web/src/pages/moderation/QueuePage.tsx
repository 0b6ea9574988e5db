import { useState } from 'preact/hooks';
import { REPORT_REASONS, toProblem, type ApiProblem, type HeldComment, type QueueItem } from '../../api/client';
import { MoreOnScroll } from '../../components/MoreOnScroll';
import { Status } from '../../components/Status';
import { ago, date } from '../../lib/format';
import { usePaged } from '../../lib/paged';
import { STATE_TEXT } from '../../lib/reports';
import { plainName } from '../../lib/text';
import type { PageProps } from '../../routes';
import { navigate } from '../../router';
import { approve, reject } from '../watch/comments/data';
import { ReportSummary } from '../reports/ReportSummary';
import { ModNav } from './ModNav';
import { queue, type QueueFilter } from './data';

const HELD_REASON: Record<string, string> = {
  link: 'a link',
  watched_word: 'a watched word',
  approval: 'the channel approves every comment',
  new_account: 'a new account',
};

function HeldItem({ h, onDone }: { h: HeldComment; onDone: (what: string) => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiProblem | null>(null);
  const author = plainName(h.author);
  const act = async (what: string, run: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await run();
      onDone(what);
    } catch (e) {
      setError(toProblem(e));
      setBusy(false);
    }
  };
  return (
    <article class="row-body" aria-label={`Held comment by ${author}`}>
      <h2 class="row-title">
        Held comment by <bdi>{author}</bdi>
      </h2>
      <p class="muted small">
        on{' '}
        <a href={`/watch/${encodeURIComponent(h.video_id)}`} dir="auto">
          {h.video_title}
        </a>{' '}
        · held for {HELD_REASON[h.reason] ?? h.reason} ·{' '}
        <time dateTime={h.at} title={date(h.at)}>
          {ago(h.at)}
        </time>
      </p>
      <blockquote class="excerpt" dir="auto">
        {h.excerpt}
      </blockquote>
      <Status error={error} busy={busy ? 'Working…' : null} />
      <div class="actions">
        <button type="button" disabled={busy} onClick={() => void act('Approved', () => approve(h.video_id, h.comment_id))}>
          Approve
        </button>
        <button type="button" class="secondary" disabled={busy} onClick={() => void act('Rejected', () => reject(h.video_id, h.comment_id, false))}>
          Reject
        </button>
        <button
          type="button"
          class="danger"
          disabled={busy}
          onClick={() => void act(`Rejected, and ${author} is banned from the channel`, () => reject(h.video_id, h.comment_id, true, 'from the moderation queue'))}
        >
          Reject and ban
        </button>
      </div>
    </article>
  );
}

function key(q: QueueItem): string {
  return q.report ? `r:${q.report.id}` : `h:${q.held_comment?.video_id}:${q.held_comment?.comment_id}`;
}

/** The moderation queue: reports and held comments, oldest first, filterable (the filter is in
 * the address, so it survives a reload). */
export default function QueuePage({ query }: PageProps) {
  const filter: QueueFilter = {
    kind: (['report', 'held_comment'] as const).find((k) => k === query.get('kind')),
    reason: REPORT_REASONS.find((r) => r.value === query.get('reason'))?.value,
    state: (['pending', 'accepted', 'rejected'] as const).find((k) => k === query.get('state')),
  };
  const list = usePaged((c) => queue(filter, c), [filter.kind, filter.reason, filter.state]);
  const [said, setSaid] = useState('');
  const setFilter = (name: string, value: string) => {
    const q = new URLSearchParams(query);
    if (value) q.set(name, value);
    else q.delete(name);
    const s = q.toString();
    navigate(`/moderation${s ? `?${s}` : ''}`, { replace: true });
  };
  return (
    <>
      <h1>Moderation queue</h1>
      <ModNav here="/moderation" />
      <form class="filters inline-form" aria-label="Filter the queue" onSubmit={(e) => e.preventDefault()}>
        <div class="field">
          <label for="q-kind">Show</label>
          <select id="q-kind" value={filter.kind ?? ''} onChange={(e) => setFilter('kind', e.currentTarget.value)}>
            <option value="">Everything</option>
            <option value="report">Reports</option>
            <option value="held_comment">Held comments</option>
          </select>
        </div>
        <div class="field">
          <label for="q-reason">Reason</label>
          <select id="q-reason" value={filter.reason ?? ''} onChange={(e) => setFilter('reason', e.currentTarget.value)}>
            <option value="">Any</option>
            {REPORT_REASONS.map((r) => (
              <option key={r.value} value={r.value}>
                {r.label}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="q-state">Report state</label>
          <select id="q-state" value={filter.state ?? ''} onChange={(e) => setFilter('state', e.currentTarget.value)}>
            <option value="">Any</option>
            {(['pending', 'accepted', 'rejected'] as const).map((s) => (
              <option key={s} value={s}>
                {STATE_TEXT[s]}
              </option>
            ))}
          </select>
        </div>
      </form>
      <p role="status" class="muted small">
        {said}
      </p>
      {list.done && !list.error && list.items.length === 0 && <p class="muted">Nothing waits here.</p>}
      <ul class="rows" aria-label="Queue">
        {list.items.map((q) => (
          <li class="row" key={key(q)}>
            {q.report ? (
              <div class="row-body">
                <ReportSummary r={q.report} href={`/moderation/reports/${encodeURIComponent(q.report.id)}`} staff />
              </div>
            ) : q.held_comment ? (
              <HeldItem
                h={q.held_comment}
                onDone={(what) => {
                  setSaid(`${what}.`);
                  list.update((x) => key(x) === key(q), null);
                }}
              />
            ) : null}
          </li>
        ))}
      </ul>
      <MoreOnScroll list={list} what="queue items" />
    </>
  );
}
