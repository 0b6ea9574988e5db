import { useState } from 'preact/hooks';
import { toProblem, type ApiProblem } from '../../api/client';
import { Status } from '../../components/Status';
import type { PageProps } from '../../routes';
import { askReset } from './data';

/** Asks for a reset link. The server answers the same whether or not an account has the
 * address, and so does this page. */
export default function ForgotPasswordPage({ query }: PageProps) {
  const [email, setEmail] = useState(query.get('email') ?? '');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiProblem | null>(null);
  const [sentTo, setSentTo] = useState<string | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await askReset(email.trim());
      setSentTo(email.trim());
    } catch (err) {
      setError(toProblem(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="narrow">
      <h1>Forgot your password?</h1>
      {sentTo ? (
        <>
          <p role="status">
            If an account uses <strong>{sentTo}</strong>, a link to set a new password is on its way there. It works once, for an hour.
          </p>
          <p class="muted small">Nothing after a few minutes? Look in the spam folder, check the address, or ask again.</p>
          <p>
            <button type="button" class="secondary" onClick={() => setSentTo(null)}>
              Ask again
            </button>{' '}
            <a href="/signin">Back to sign in</a>
          </p>
        </>
      ) : (
        <>
          <p>Give the address of your account and we will email you a link to set a new password.</p>
          <form class="stack" onSubmit={(e) => void submit(e)}>
            <div class="field">
              <label for="fp-email">Email</label>
              <input id="fp-email" name="email" type="email" autocomplete="email" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
            </div>
            <Status error={error} busy={busy ? 'Sending…' : null} />
            <button type="submit" disabled={busy}>
              Send the link
            </button>
          </form>
          <p>
            Remembered it? <a href="/signin">Sign in</a>.
          </p>
        </>
      )}
    </section>
  );
}
