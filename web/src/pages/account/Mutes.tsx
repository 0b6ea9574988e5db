import { useEffect, useState } from 'preact/hooks';
import { toProblem, type Muted, type ApiProblem } from '../../api/client';
import { Status } from '../../components/Status';
import { mute, mutes, unmute } from '../../lib/mutes';
import { plainName } from '../../lib/text';

/** Muted accounts: their comments are not shown to this user. Mute by name, unmute. */
export function Mutes() {
  const [list, setList] = useState<Muted[] | null>(null);
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiProblem | null>(null);
  const [said, setSaid] = useState('');
  const load = mutes;
  useEffect(() => {
    load()
      .then(setList)
      .catch((e: unknown) => setError(toProblem(e)));
  }, []);
  const run = async (go: () => Promise<void>, done: string) => {
    setBusy(true);
    setError(null);
    setSaid('');
    try {
      await go();
      setList(await load());
      setSaid(done);
    } catch (e) {
      setError(toProblem(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="mutes-h">
      <h2 id="mutes-h">Muted accounts</h2>
      <p class="muted small">You do not see the comments of accounts you mute. They are not told.</p>
      <form
        class="inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          const n = name.trim();
          if (n) void run(() => mute(n), `Muted ${plainName(n)}.`).then(() => setName(''));
        }}
      >
        <div class="field">
          <label for="mute-name">Mute an account</label>
          <input id="mute-name" required autocomplete="off" value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </div>
        <button type="submit" disabled={busy}>
          Mute
        </button>
      </form>
      <Status busy={busy ? 'Saving…' : !list && !error ? 'Loading…' : null} error={error} />
      <p role="status" class="muted small">
        {said}
      </p>
      {list && list.length === 0 && <p class="muted">You have muted nobody.</p>}
      {list && list.length > 0 && (
        <ul class="devices" aria-label="Muted accounts">
          {list.map((m) => (
            <li key={m.username}>
              <bdi>{plainName(m.username)}</bdi>
              <button
                type="button"
                class="secondary"
                disabled={busy}
                aria-label={`Unmute ${plainName(m.username)}`}
                onClick={() => void run(() => unmute(m.username), `Unmuted ${plainName(m.username)}.`)}
              >
                Unmute
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
