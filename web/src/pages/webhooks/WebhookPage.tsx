import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { toProblem, type ApiProblem, subscribable } from '../../api/client';
import type { DeliveryView, WebhookEvent, WebhookView } from '../../api/client';
import { Status } from '../../components/Status';
import { ago, date } from '../../lib/format';
import { navigate } from '../../router';
import type { PageProps } from '../../routes';
import { deleteWebhook, deliveries, retryDelivery, rotateSecret, sendTest, updateWebhook, webhook } from './data';
import { EventsPicker, SecretOnce } from './Parts';

function EditForm({ w, onSaved }: { w: WebhookView; onSaved: (w: WebhookView) => void }) {
  const [url, setUrl] = useState(w.url);
  const [description, setDescription] = useState(w.description);
  const [events, setEvents] = useState<WebhookEvent[]>(w.events);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiProblem | string | null>(null);
  const [saved, setSaved] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!events.length) {
      setError('Pick at least one event.');
      return;
    }
    setBusy(true);
    setError(null);
    setSaved(false);
    try {
      onSaved(await updateWebhook(w.id, { url: url.trim(), description: description.trim(), events: subscribable(events) }));
      setSaved(true);
    } catch (err) {
      setError(toProblem(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="edit-h">
      <h2 id="edit-h">Edit</h2>
      <form class="stack" onSubmit={(e) => void submit(e)}>
        <div class="field">
          <label for="edit-url">URL</label>
          <input id="edit-url" type="url" required value={url} onInput={(e) => setUrl(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="edit-desc">Description (optional)</label>
          <input id="edit-desc" maxLength={200} dir="auto" value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
        </div>
        <EventsPicker value={events} onChange={setEvents} idPrefix="edit-ev" />
        <Status error={error} busy={busy ? 'Saving…' : null} />
        {saved && (
          <p role="status" class="ok-line">
            Saved.
          </p>
        )}
        <div>
          <button type="submit" disabled={busy}>
            Save the changes
          </button>
        </div>
      </form>
    </section>
  );
}

const OUTCOME: Record<string, string> = { sent: 'Delivered', retrying: 'Failed, will retry', failed: 'Failed' };

/** One attempt of a delivery: when, which event, what came of it, the answer; Retry sends that
 * delivery again (the same `webhook-id`). */
function AttemptRow({ d, hook, onRetried }: { d: DeliveryView; hook: string; onRetried: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiProblem | null>(null);
  const [said, setSaid] = useState('');
  const retry = async () => {
    setBusy(true);
    setError(null);
    setSaid('');
    try {
      await retryDelivery(hook, d.delivery_id);
      setSaid('Queued again.');
      onRetried();
    } catch (e) {
      setError(toProblem(e));
    } finally {
      setBusy(false);
    }
  };
  const answer = d.response ?? d.error ?? '';
  return (
    <tr>
      <td>
        <time dateTime={d.at} title={date(d.at)}>
          {ago(d.at)}
        </time>
      </td>
      <th scope="row">
        <code>{d.event}</code>
      </th>
      <td>
        {OUTCOME[d.outcome] ?? d.outcome}
        {d.attempt > 1 ? ` (try ${d.attempt})` : ''}
      </td>
      <td>{d.status ?? '–'}</td>
      <td>{`${d.latency_ms} ms`}</td>
      <td>
        {answer ? (
          <details>
            <summary>{d.response != null ? 'Answer' : 'Error'}</summary>
            <pre class="answer">{answer}</pre>
          </details>
        ) : (
          '–'
        )}
      </td>
      <td>
        {d.outcome !== 'sent' && (
          <button type="button" class="secondary" disabled={busy} aria-label={`Retry the ${d.event} delivery from ${ago(d.at)}`} onClick={() => void retry()}>
            Retry
          </button>
        )}
        <span role="status" class="small">
          {said}
        </span>
        <Status error={error} />
      </td>
    </tr>
  );
}

/** The delivery log, newest first: refreshed every 3 s while shown (the first page), more on
 * demand. */
function Deliveries({ hook, bump }: { hook: string; bump: number }) {
  const [items, setItems] = useState<DeliveryView[] | null>(null);
  const [older, setOlder] = useState<DeliveryView[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<ApiProblem | null>(null);
  const [busy, setBusy] = useState(false);
  const gotOlder = useRef(false);
  const load = useCallback(() => {
    deliveries(hook, undefined)
      .then((p) => {
        setItems(p.items);
        if (!gotOlder.current) setCursor(p.next_cursor ?? null);
        setError(null);
      })
      .catch((e: unknown) => setError(toProblem(e)));
  }, [hook]);
  useEffect(() => {
    load();
    const t = setInterval(() => {
      if (document.visibilityState === 'visible') load();
    }, 3000);
    return () => clearInterval(t);
  }, [load, bump]);
  const more = async () => {
    if (!cursor) return;
    setBusy(true);
    try {
      const p = await deliveries(hook, cursor);
      gotOlder.current = true;
      setOlder((o) => [...o, ...p.items]);
      setCursor(p.next_cursor ?? null);
    } catch (e) {
      setError(toProblem(e));
    } finally {
      setBusy(false);
    }
  };
  const seen = new Set((items ?? []).map((d) => d.seq));
  const rows = [...(items ?? []), ...older.filter((d) => !seen.has(d.seq))];
  return (
    <section aria-labelledby="deliveries-h">
      <div class="section-head">
        <h2 id="deliveries-h">Deliveries</h2>
        <button type="button" class="secondary" onClick={load}>
          Refresh
        </button>
      </div>
      <Status busy={!items && !error ? 'Loading the deliveries…' : null} error={error} />
      {items && rows.length === 0 && <p class="muted">Nothing delivered yet. Send a test event to see one.</p>}
      {rows.length > 0 && (
        <div class="table-wrap" role="region" aria-label="Deliveries table" tabIndex={0}>
          <table>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Event</th>
                <th scope="col">Status</th>
                <th scope="col">HTTP</th>
                <th scope="col">Latency</th>
                <th scope="col">Answer</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((d) => (
                <AttemptRow key={d.seq} d={d} hook={hook} onRetried={load} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      {cursor && (
        <button type="button" class="secondary" disabled={busy} onClick={() => void more()}>
          Older deliveries
        </button>
      )}
    </section>
  );
}

/** One endpoint: what it is, edit, test, rotate the secret, delete, and its delivery log. */
export default function WebhookPage({ params }: PageProps) {
  const id = params.id ?? '';
  const [w, setW] = useState<WebhookView | null>(null);
  const [error, setError] = useState<ApiProblem | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [said, setSaid] = useState('');
  const [secret, setSecret] = useState<{ secret: string; previous_expires_at?: string | null } | null>(null);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [bump, setBump] = useState(0);
  /** Set while the endpoint is being deleted: its log stops asking for deliveries. */
  const [deleting, setDeleting] = useState(false);
  useEffect(() => {
    webhook(id)
      .then(setW)
      .catch((e: unknown) => setError(toProblem(e)));
  }, [id]);
  const act = async (what: string, go: () => Promise<void>) => {
    setBusy(what);
    setError(null);
    setSaid('');
    try {
      await go();
    } catch (e) {
      setError(toProblem(e));
    } finally {
      setBusy(null);
    }
  };
  return (
    <>
      <p>
        <a href="/me/webhooks">All webhooks</a>
      </p>
      <h1 class="hook-url">{w ? w.url : 'Webhook'}</h1>
      <Status busy={!w && !error ? 'Loading the endpoint…' : null} error={error} />
      {w && (
        <>
          <dl class="facts">
            <dt>State</dt>
            <dd>
              {w.state === 'enabled' ? 'Receiving events' : 'Disabled'}
              {w.disabled_reason === 'gone' && ' (the receiver answered 410 Gone)'}
              {w.disabled_reason === 'failing' && ' (every delivery failed for days)'}
              {w.failing_since && w.state === 'enabled' && `; failing since ${date(w.failing_since)}`}
            </dd>
            <dt>Scope</dt>
            <dd>{w.scope === 'instance' ? 'Instance-wide' : 'My videos and channels'}</dd>
            {w.description && (
              <>
                <dt>Description</dt>
                <dd dir="auto">{w.description}</dd>
              </>
            )}
            <dt>Events</dt>
            <dd>{w.events.join(', ')}</dd>
            <dt>Created</dt>
            <dd>{date(w.created_at)}</dd>
          </dl>
          <div class="actions">
            <button
              type="button"
              disabled={busy !== null}
              onClick={() =>
                void act('test', async () => {
                  await sendTest(w.id);
                  setSaid('Test event sent: it shows in the deliveries below.');
                  setBump((b) => b + 1);
                })
              }
            >
              Send a test event
            </button>
            <button
              type="button"
              class="secondary"
              disabled={busy !== null}
              onClick={() => void act('state', async () => setW(await updateWebhook(w.id, { state: w.state === 'enabled' ? 'disabled' : 'enabled' })))}
            >
              {w.state === 'enabled' ? 'Disable' : 'Enable'}
            </button>
            <button type="button" class="secondary" disabled={busy !== null} onClick={() => void act('rotate', async () => setSecret(await rotateSecret(w.id)))}>
              Rotate the secret
            </button>
            {!confirmDelete ? (
              <button type="button" class="danger" disabled={busy !== null} onClick={() => setConfirmDelete(true)}>
                Delete…
              </button>
            ) : (
              <>
                <button
                  type="button"
                  class="danger"
                  disabled={busy !== null}
                  onClick={() =>
                    void act('delete', async () => {
                      setDeleting(true);
                      try {
                        await deleteWebhook(w.id);
                      } catch (e) {
                        setDeleting(false);
                        throw e;
                      }
                      navigate('/me/webhooks', { replace: true });
                    })
                  }
                >
                  Delete this endpoint
                </button>
                <button type="button" class="secondary" onClick={() => setConfirmDelete(false)}>
                  Keep it
                </button>
              </>
            )}
          </div>
          <p role="status" class="small">
            {said}
          </p>
          {secret && (
            <SecretOnce
              secret={secret.secret}
              note={
                secret.previous_expires_at
                  ? `The previous secret keeps signing too until ${date(secret.previous_expires_at)}, so switch your app over before then.`
                  : undefined
              }
              onDone={() => setSecret(null)}
            />
          )}
          {!deleting && <Deliveries hook={w.id} bump={bump} />}
          <EditForm w={w} onSaved={setW} />
        </>
      )}
    </>
  );
}
