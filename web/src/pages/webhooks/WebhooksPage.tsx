import { useEffect, useState } from 'preact/hooks';
import { toProblem, type ApiProblem, subscribable } from '../../api/client';
import type { WebhookEvent, WebhookView } from '../../api/client';
import { Status } from '../../components/Status';
import { date } from '../../lib/format';
import { useSession } from '../../session';
import { createWebhook, webhooks } from './data';
import { EventsPicker, SecretOnce } from './Parts';

function CreateForm({ onCreated, admin }: { onCreated: (w: WebhookView & { secret: string }) => void; admin: boolean }) {
  const [url, setUrl] = useState('');
  const [description, setDescription] = useState('');
  const [events, setEvents] = useState<WebhookEvent[]>(['video.ready', 'video.failed']);
  const [instance, setInstance] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiProblem | string | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!events.length) {
      setError('Pick at least one event.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const w = await createWebhook({ url: url.trim(), description: description.trim() || null, events: subscribable(events), ...(instance ? { scope: 'instance' as const } : {}) });
      setUrl('');
      setDescription('');
      onCreated(w);
    } catch (err) {
      setError(toProblem(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="new-hook-h">
      <h2 id="new-hook-h">New endpoint</h2>
      <form class="stack" onSubmit={(e) => void submit(e)}>
        <div class="field">
          <label for="hook-url">URL</label>
          <input id="hook-url" type="url" inputMode="url" required placeholder="https://example.com/troupe" value={url} onInput={(e) => setUrl(e.currentTarget.value)} />
          <span class="muted small">HTTPS, on the public internet. Each delivery is a signed POST; answer 2xx within 15 s.</span>
        </div>
        <div class="field">
          <label for="hook-desc">Description (optional)</label>
          <input id="hook-desc" maxLength={200} dir="auto" value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
        </div>
        <EventsPicker value={events} onChange={setEvents} idPrefix="new-ev" />
        {admin && (
          <label class="check">
            <input type="checkbox" checked={instance} onChange={(e) => setInstance(e.currentTarget.checked)} /> Instance-wide: every event of every account
          </label>
        )}
        <Status error={error} busy={busy ? 'Adding the endpoint…' : null} />
        <div>
          <button type="submit" disabled={busy}>
            Add the endpoint
          </button>
        </div>
      </form>
    </section>
  );
}

/** The caller's webhook endpoints (an admin's include the instance-wide ones) and a form for a
 * new one, whose secret shows once. */
export default function WebhooksPage() {
  const s = useSession();
  const admin = s.status === 'signed-in' && s.me.role === 'admin';
  const [list, setList] = useState<WebhookView[] | null>(null);
  const [error, setError] = useState<ApiProblem | null>(null);
  const [fresh, setFresh] = useState<(WebhookView & { secret: string }) | null>(null);
  useEffect(() => {
    webhooks()
      .then(setList)
      .catch((e: unknown) => setError(toProblem(e)));
  }, []);
  return (
    <>
      <h1>Webhooks</h1>
      <p>
        troupe tells your app when something happens to your videos and channels: a signed HTTP POST to each endpoint that asked for the event (
        <a href="https://www.standardwebhooks.com/" data-external rel="noopener noreferrer">
          Standard Webhooks
        </a>
        ).
      </p>
      {fresh?.secret && (
        <SecretOnce
          secret={fresh.secret}
          note={`For ${fresh.url}.`}
          onDone={() => setFresh(null)}
        />
      )}
      <section aria-labelledby="hooks-h">
        <h2 id="hooks-h">Endpoints</h2>
        <Status busy={!list && !error ? 'Loading your endpoints…' : null} error={error} />
        {list && list.length === 0 && <p class="muted">No endpoints yet.</p>}
        {list && list.length > 0 && (
          <ul class="rows" aria-label="Endpoints">
            {list.map((w) => (
              <li class="row" key={w.id}>
                <div class="row-body">
                  <h3 class="row-title hook-url">
                    <a href={`/me/webhooks/${encodeURIComponent(w.id)}`}>{w.url}</a>
                  </h3>
                  {w.description && (
                    <p dir="auto" class="small">
                      {w.description}
                    </p>
                  )}
                  <p class="muted small">
                    {w.state}
                    {w.disabled_reason ? ` (${w.disabled_reason})` : ''}
                    {w.scope === 'instance' ? ' · instance-wide' : ''} · {w.events.join(', ')} · since {date(w.created_at)}
                  </p>
                </div>
              </li>
            ))}
          </ul>
        )}
      </section>
      <CreateForm
        admin={admin}
        onCreated={(w) => {
          setFresh(w);
          const { secret: _secret, ...view } = w;
          setList((l) => [...(l ?? []), view]);
        }}
      />
    </>
  );
}
