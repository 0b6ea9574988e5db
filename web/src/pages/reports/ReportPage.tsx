import { useEffect, useState } from 'preact/hooks';
import { isStaff, toProblem, type ApiProblem, type Report, type ReportMessage, type ReportState } from '../../api/client';
import { Status } from '../../components/Status';
import { ago, date } from '../../lib/format';
import { messages, report, sendMessage, setReportState, STATE_TEXT } from '../../lib/reports';
import { plainName } from '../../lib/text';
import type { PageProps } from '../../routes';
import { useSession } from '../../session';
import { Composer } from '../watch/comments/Composer';
import { ModNav } from '../moderation/ModNav';
import { ReportTargetText, reasonText } from './ReportSummary';

function StateForm({ r, onSaved }: { r: Report; onSaved: (r: Report) => void }) {
  const [state, setState] = useState<ReportState>(r.state);
  const [note, setNote] = useState(r.moderator_note ?? '');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiProblem | null>(null);
  const [said, setSaid] = useState('');
  const save = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setSaid('');
    try {
      onSaved(await setReportState(r.id, state, note.trim()));
      setSaid('Saved.');
    } catch (err) {
      setError(toProblem(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="stack panel" aria-labelledby="state-h" onSubmit={(e) => void save(e)}>
      <h2 id="state-h">Decision</h2>
      <div class="field">
        <label for="r-state">State</label>
        <select id="r-state" value={state} onChange={(e) => setState(e.currentTarget.value as ReportState)}>
          {(['pending', 'accepted', 'rejected'] as const).map((s) => (
            <option key={s} value={s}>
              {STATE_TEXT[s]}
            </option>
          ))}
        </select>
      </div>
      <div class="field">
        <label for="r-note">Note to the reporter</label>
        <textarea id="r-note" rows={3} maxLength={5000} value={note} dir="auto" onInput={(e) => setNote(e.currentTarget.value)} />
      </div>
      <Status error={error} busy={busy ? 'Saving…' : null} />
      <div class="actions">
        <button type="submit" disabled={busy}>
          Save decision
        </button>
        <span role="status" class="muted small">
          {said}
        </span>
      </div>
    </form>
  );
}

/** One report, for its reporter (/me/reports/:id) and for moderators (/moderation/reports/:id):
 * what it is about, its state and the moderator's note, and the message thread between them. */
export default function ReportPage({ params }: PageProps) {
  const id = params.id ?? '';
  const s = useSession();
  const staff = s.status === 'signed-in' && isStaff(s.me);
  const [r, setR] = useState<Report | null>(null);
  const [thread, setThread] = useState<ReportMessage[] | null>(null);
  const [error, setError] = useState<ApiProblem | null>(null);
  useEffect(() => {
    let live = true;
    Promise.all([
      report(id),
      messages(id),
    ])
      .then(([rep, msgs]) => {
        if (!live) return;
        setR(rep);
        setThread(msgs);
      })
      .catch((e: unknown) => {
        if (live) setError(toProblem(e));
      });
    return () => {
      live = false;
    };
  }, [id]);
  const inModeration = location.pathname.startsWith('/moderation/');
  return (
    <>
      <h1>Report{r ? `: ${reasonText(r.reason)}` : ''}</h1>
      {inModeration ? (
        <ModNav here="" />
      ) : (
        <p>
          <a href="/me/reports">All your reports</a>
        </p>
      )}
      <Status busy={!r && !error ? 'Loading the report…' : null} error={error} />
      {r && (
        <>
          <dl class="facts">
            <dt>State</dt>
            <dd>
              <span class={`badge state-${r.state}`}>{STATE_TEXT[r.state]}</span>
            </dd>
            <dt>About</dt>
            <dd>
              <ReportTargetText r={r} />
            </dd>
            {r.reporter && (
              <>
                <dt>Reported by</dt>
                <dd>
                  <bdi>{plainName(r.reporter.username)}</bdi>
                </dd>
              </>
            )}
            <dt>Sent</dt>
            <dd>{date(r.created_at)}</dd>
            <dt>Details</dt>
            <dd class="report-text" dir="auto">
              {r.text || '–'}
            </dd>
            <dt>Moderator’s note</dt>
            <dd class="report-text" dir="auto">
              {r.moderator_note || '–'}
            </dd>
          </dl>
          {staff && <StateForm r={r} onSaved={setR} />}
          <section aria-labelledby="thread-h">
            <h2 id="thread-h">Messages</h2>
            {thread && thread.length === 0 && <p class="muted">No messages yet.</p>}
            {thread && thread.length > 0 && (
              <ol class="thread" aria-label="Messages">
                {thread.map((m) => (
                  <li key={m.id} class={m.from_moderator ? 'staff' : ''}>
                    <p class="small">
                      <strong>
                        <bdi>{plainName(m.author)}</bdi>
                      </strong>
                      {m.from_moderator && ' (moderator)'} ·{' '}
                      <time dateTime={m.created_at} title={date(m.created_at)}>
                        {ago(m.created_at)}
                      </time>
                    </p>
                    <p dir="auto">{m.text}</p>
                  </li>
                ))}
              </ol>
            )}
            <Composer
              label={staff ? 'Write to the reporter' : 'Write to the moderators'}
              submit="Send message"
              onSend={async (text) => {
                const m = await sendMessage(r.id, text.trim());
                setThread((t) => [...(t ?? []), m]);
                setR((x) => (x ? { ...x, messages: x.messages + 1 } : x));
              }}
            />
          </section>
        </>
      )}
    </>
  );
}
