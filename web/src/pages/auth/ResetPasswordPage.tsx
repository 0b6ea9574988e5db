import { useState } from 'preact/hooks';
import { toProblem, type ApiProblem } from '../../api/client';
import { Status } from '../../components/Status';
import { session, signOut } from '../../session';
import { confirmReset } from './data';
import { forgetToken, useMailedToken, useNoReferrer } from './token';

const PATH = '/reset-password';

/** What a refused link means to the user (the server's codes are the same for every kind of
 * token and never say whether an account exists). */
function linkProblem(p: ApiProblem): string | null {
  if (p.code === 'token_expired') return 'This link was used already or is more than an hour old.';
  if (p.code === 'invalid_token') return 'This link is not valid: it may have been cut short when it was copied.';
  return null;
}

/** The page the reset mail links to: a new password for the link's token. */
export default function ResetPasswordPage() {
  useNoReferrer();
  const token = useMailedToken(PATH);
  const [password, setPassword] = useState('');
  const [again, setAgain] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiProblem | string | null>(null);
  const [deadLink, setDeadLink] = useState<string | null>(null);
  const [done, setDone] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!token) return;
    if (password !== again) {
      setError('The two passwords differ.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await confirmReset(token, password);
      forgetToken(PATH);
      setDone(true);
      // Every login of the account ended on the server; end this browser's too.
      if (session().status === 'signed-in') await signOut().catch(() => undefined);
    } catch (err) {
      const p = toProblem(err);
      const dead = linkProblem(p);
      if (dead) {
        forgetToken(PATH);
        setDeadLink(dead);
      } else setError(p);
    } finally {
      setBusy(false);
    }
  };
  if (done)
    return (
      <section class="narrow">
        <h1>Password changed</h1>
        <p role="status">Your new password is set, and every device that was signed in to your account is signed out.</p>
        <p>
          <a href="/signin">Sign in with the new password</a>
        </p>
      </section>
    );
  if (!token || deadLink)
    return (
      <section class="narrow">
        <h1>Set a new password</h1>
        <p role="alert">{deadLink ?? 'This page needs the link from the email: open the link from the mail as it is.'}</p>
        <p>
          <a href="/forgot-password">Ask for a new link</a>
        </p>
      </section>
    );
  return (
    <section class="narrow">
      <h1>Set a new password</h1>
      <form class="stack" onSubmit={(e) => void submit(e)}>
        <div class="field">
          <label for="rp-pass">New password</label>
          <input id="rp-pass" type="password" autocomplete="new-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="rp-again">Repeat the new password</label>
          <input id="rp-again" type="password" autocomplete="new-password" required value={again} onInput={(e) => setAgain(e.currentTarget.value)} />
        </div>
        <Status error={error} busy={busy ? 'Setting the password…' : null} />
        <button type="submit" disabled={busy}>
          Set the password
        </button>
      </form>
    </section>
  );
}
