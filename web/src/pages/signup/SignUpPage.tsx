import { useState } from 'preact/hooks';
import { toProblem, type ApiProblem } from '../../api/client';
import { Status } from '../../components/Status';
import { navigate, safeNext } from '../../router';
import type { PageProps } from '../../routes';
import { signUp } from '../../session';

export default function SignUpPage({ query }: PageProps) {
  const next = safeNext(query.get('next'));
  const [username, setUsername] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiProblem | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signUp(username.trim(), email.trim(), password);
      navigate(next, { replace: true });
    } catch (err) {
      setError(toProblem(err));
      setBusy(false);
    }
  };
  return (
    <section class="narrow">
      <h1>Create an account</h1>
      <form class="stack" onSubmit={(e) => void submit(e)}>
        <div class="field">
          <label for="su-user">Username</label>
          <input
            id="su-user"
            name="username"
            autocomplete="username"
            required
            minLength={3}
            maxLength={32}
            aria-describedby="su-user-hint"
            value={username}
            onInput={(e) => setUsername(e.currentTarget.value)}
          />
          <p id="su-user-hint" class="muted small">
            3 to 32 letters, digits, _ . or -
          </p>
        </div>
        <div class="field">
          <label for="su-email">Email</label>
          <input id="su-email" name="email" type="email" autocomplete="email" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="su-pass">Password</label>
          <input
            id="su-pass"
            name="password"
            type="password"
            autocomplete="new-password"
            required
            minLength={8}
            maxLength={128}
            aria-describedby="su-pass-hint"
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
          <p id="su-pass-hint" class="muted small">
            8 to 128 characters, not easy to guess: a few unrelated words work well.
          </p>
        </div>
        <Status error={error} busy={busy ? 'Creating your account…' : null} />
        <button type="submit" disabled={busy}>
          Create account
        </button>
      </form>
      <p>
        Have an account? <a href={`/signin?next=${encodeURIComponent(next)}`}>Sign in</a>.
      </p>
    </section>
  );
}
