import { useState } from 'preact/hooks';
import { toProblem, type ApiProblem } from '../../api/client';
import { Status } from '../../components/Status';
import { navigate, safeNext } from '../../router';
import type { PageProps } from '../../routes';
import { signIn } from '../../session';

export default function SignInPage({ query }: PageProps) {
  const next = safeNext(query.get('next'));
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiProblem | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signIn(username.trim(), password);
      navigate(next, { replace: true });
    } catch (err) {
      setError(toProblem(err));
      setBusy(false);
    }
  };
  return (
    <section class="narrow">
      <h1>Sign in</h1>
      {query.get('expired') && <p role="status">Your session ended. Sign in again to continue where you were.</p>}
      <form class="stack" onSubmit={(e) => void submit(e)}>
        <div class="field">
          <label for="si-user">Username or email</label>
          <input id="si-user" name="username" autocomplete="username" required value={username} onInput={(e) => setUsername(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="si-pass">Password</label>
          <input
            id="si-pass"
            name="password"
            type="password"
            autocomplete="current-password"
            required
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </div>
        <Status error={error} busy={busy ? 'Signing in…' : null} />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
      </form>
      <p>
        <a href="/forgot-password">Forgot your password?</a>
      </p>
      <p>
        New here? <a href={`/signup?next=${encodeURIComponent(next)}`}>Create an account</a>.
      </p>
    </section>
  );
}
