// The account's own settings (issue 24): password, address, export, deletion.

import { useEffect, useRef, useState } from 'preact/hooks';
import { toProblem, type ApiProblem, type ExportView, type Me } from '../../api/client';
import { accountState } from '../../api/pending';
import { Status } from '../../components/Status';
import { date } from '../../lib/format';
import { reloadMe } from '../../session';
import { cancelDeletion, changeEmail, changePassword, currentExport, deleteAccount, startExport } from './data';

type Account = Me & { pending_email?: string | null };

function PasswordForm() {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiProblem | null>(null);
  const [saved, setSaved] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setSaved(false);
    try {
      await changePassword(current, next);
      setCurrent('');
      setNext('');
      setSaved(true);
    } catch (err) {
      setError(toProblem(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="password-h">
      <h2 id="password-h">Password</h2>
      <form class="stack account-form" onSubmit={(e) => void submit(e)}>
        <div class="field">
          <label for="pw-current">Current password</label>
          <input id="pw-current" type="password" autocomplete="current-password" required value={current} onInput={(e) => setCurrent(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="pw-new">New password</label>
          <input id="pw-new" type="password" autocomplete="new-password" required value={next} onInput={(e) => setNext(e.currentTarget.value)} />
        </div>
        <Status error={error} busy={busy ? 'Changing the password…' : null} />
        {saved && (
          <p role="status" class="ok-line">
            Password changed. We emailed you to say so.
          </p>
        )}
        <div>
          <button type="submit" disabled={busy}>
            Change the password
          </button>
        </div>
      </form>
      <p class="small">
        Forgot it? <a href="/forgot-password">Get a reset link by email</a>.
      </p>
    </section>
  );
}

function EmailForm({ me }: { me: Account }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiProblem | null>(null);
  const [pending, setPending] = useState<string | null>(me.pending_email ?? null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await changeEmail(password, email.trim());
      setPending(email.trim());
      setEmail('');
      setPassword('');
    } catch (err) {
      setError(toProblem(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="email-h">
      <h2 id="email-h">Email address</h2>
      <p>
        Your account uses <strong>{me.email}</strong>
        {accountState(me).email_verified === true && ' (confirmed)'}
        {accountState(me).email_verified === false && ' (not confirmed yet)'}.
      </p>
      {pending && (
        <p role="status" class="ok-line">
          Waiting for confirmation: we sent a link to <strong>{pending}</strong>. Your account keeps using {me.email} until you follow it (within 24 hours).
        </p>
      )}
      <form class="stack account-form" onSubmit={(e) => void submit(e)}>
        <div class="field">
          <label for="em-new">New address</label>
          <input id="em-new" type="email" autocomplete="email" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="em-pass">Current password</label>
          <input id="em-pass" type="password" autocomplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
        </div>
        <Status error={error} busy={busy ? 'Sending the confirmation…' : null} />
        <div>
          <button type="submit" disabled={busy}>
            Change the address
          </button>
        </div>
      </form>
      <p class="muted small">The new address gets a link to confirm it; the old one is told, with a way to undo it for 7 days.</p>
    </section>
  );
}

const EXPORT_HINT = 'troupe.export_asked';

function exportHinted(user: string): boolean {
  try {
    return localStorage.getItem(`${EXPORT_HINT}.${user}`) === '1';
  } catch {
    return false;
  }
}

function exportHint(user: string, on: boolean): void {
  try {
    if (on) localStorage.setItem(`${EXPORT_HINT}.${user}`, '1');
    else localStorage.removeItem(`${EXPORT_HINT}.${user}`);
  } catch {
    /* storage unavailable: the page shows no earlier export */
  }
}

const EXPORT_STATE: Record<string, string> = {
  pending: 'Being prepared…',
  ready: 'Ready',
  failed: 'Failed',
};

/** The link's path on this console's server (the server builds it from its public URL, which
 * may name another host than the one this page was loaded from); null for a link to elsewhere. */
function sameOrigin(url: string): string | null {
  try {
    const u = new URL(url, location.origin);
    if (!(u.protocol === 'http:' || u.protocol === 'https:') || !u.pathname.startsWith('/api/v1/exports/')) return null;
    return u.pathname + u.search;
  } catch {
    return null;
  }
}

function ExportData({ user }: { user: string }) {
  const [ex, setEx] = useState<ExportView | null | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiProblem | null>(null);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const load = () => {
    // Only an account that asked for one here has an export to look for: no failing request on
    // every visit of the page otherwise.
    if (!exportHinted(user)) {
      setEx(null);
      return;
    }
    currentExport()
      .then((x) => {
        if (!x) exportHint(user, false);
        setEx(x);
        clearTimeout(timer.current);
        // While it is being prepared, look again every two seconds.
        if (x?.state === 'pending') timer.current = setTimeout(load, 2000);
      })
      .catch((e: unknown) => setError(toProblem(e)));
  };
  useEffect(() => {
    load();
    return () => clearTimeout(timer.current);
  }, []);
  const start = async () => {
    setBusy(true);
    setError(null);
    try {
      setEx(await startExport());
      exportHint(user, true);
      clearTimeout(timer.current);
      timer.current = setTimeout(load, 1000);
    } catch (e) {
      setError(toProblem(e));
    } finally {
      setBusy(false);
    }
  };
  const link = ex?.download_url ? sameOrigin(ex.download_url) : null;
  return (
    <section aria-labelledby="export-h">
      <h2 id="export-h">Export my data</h2>
      <p>
        One JSON file with your profile, channels, your videos' details, watch history, ratings, subscriptions and comments. We prepare it in the
        background and email you a link too; the link works for 7 days.
      </p>
      <Status busy={ex === undefined && !error ? 'Looking for an export…' : null} error={error} />
      {ex && (
        <dl class="facts" aria-label="Your export">
          <dt>State</dt>
          <dd>{EXPORT_STATE[ex.state] ?? ex.state}</dd>
          <dt>Asked</dt>
          <dd>{date(ex.created_at)}</dd>
          {ex.expires_at && (
            <>
              <dt>Link expires</dt>
              <dd>{date(ex.expires_at)}</dd>
            </>
          )}
        </dl>
      )}
      {ex?.state === 'ready' && link && (
        <p>
          <a href={link} download>
            Download my data (JSON)
          </a>
        </p>
      )}
      <button type="button" class="secondary" disabled={busy || ex?.state === 'pending'} onClick={() => void start()}>
        {ex ? 'Prepare a new export' : 'Prepare an export'}
      </button>
    </section>
  );
}

/** Schedules the account's deletion (with the password), shows the date, and cancels it. */
export function DeleteAccount({ me }: { me: Me }) {
  const acc = me as Account;
  const [open, setOpen] = useState(false);
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiProblem | null>(null);
  const [when, setWhen] = useState<string | null>(accountState(acc).deletion_scheduled_at ?? null);
  const [cancelled, setCancelled] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setCancelled(false);
    try {
      setWhen(await deleteAccount(password));
      setPassword('');
      setOpen(false);
    } catch (err) {
      setError(toProblem(err));
    } finally {
      setBusy(false);
    }
  };
  const cancel = async () => {
    setBusy(true);
    setError(null);
    try {
      await cancelDeletion();
      setWhen(null);
      setCancelled(true);
      await reloadMe().catch(() => undefined);
    } catch (err) {
      setError(toProblem(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="delete-h">
      <h2 id="delete-h">Delete my account</h2>
      {when ? (
        <>
          <p role="status" class="problem">
            Your account will be deleted on <strong>{date(when)}</strong>, with its videos, comments, ratings and history. Every device was signed out.
            Changed your mind? Cancel here now, or sign in again before then.
          </p>
          <button type="button" disabled={busy} onClick={() => void cancel()}>
            Cancel the deletion
          </button>
        </>
      ) : (
        <>
          {cancelled && (
            <p role="status" class="ok-line">
              The deletion is cancelled. Your account stays.
            </p>
          )}
          <p>Deleting your account takes away your videos, comments, ratings and history after a grace period, in which you can still cancel.</p>
          {!open ? (
            <button type="button" class="danger" onClick={() => setOpen(true)}>
              Delete my account…
            </button>
          ) : (
            <form class="stack account-form" onSubmit={(e) => void submit(e)}>
              <div class="field">
                <label for="del-pass">Your password, to confirm</label>
                <input id="del-pass" type="password" autocomplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
              </div>
              <div class="actions">
                <button type="submit" class="danger" disabled={busy}>
                  Delete my account
                </button>
                <button type="button" class="secondary" onClick={() => setOpen(false)}>
                  Keep it
                </button>
              </div>
            </form>
          )}
        </>
      )}
      <Status error={error} busy={busy ? 'Working…' : null} />
    </section>
  );
}

/** The account's settings from issue 24 (deletion comes last on the page: `DeleteAccount`). */
export function AccountSettings({ me }: { me: Me }) {
  const acc = me as Account;
  return (
    <>
      <PasswordForm />
      <EmailForm me={acc} />
      <ExportData user={acc.id} />
      <section aria-labelledby="apps-h">
        <h2 id="apps-h">Apps</h2>
        <p>
          <a href="/me/webhooks">Webhooks</a>: let your own apps hear when your videos are ready, fail, change or get comments.
        </p>
      </section>
    </>
  );
}
