import { useState } from 'preact/hooks';
import { toProblem, type ApiProblem, type SuspendedAccount } from '../../api/client';
import { MoreOnScroll } from '../../components/MoreOnScroll';
import { Status } from '../../components/Status';
import { ago, date } from '../../lib/format';
import { usePaged } from '../../lib/paged';
import { plainName } from '../../lib/text';
import { ModNav } from './ModNav';
import { suspended, unsuspend } from './data';

function Row({ u, onDone }: { u: SuspendedAccount; onDone: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiProblem | null>(null);
  const name = plainName(u.username);
  const go = async () => {
    setBusy(true);
    setError(null);
    try {
      await unsuspend(u.username);
      onDone();
    } catch (e) {
      setError(toProblem(e));
      setBusy(false);
    }
  };
  return (
    <li class="row">
      <div class="row-body">
        <h2 class="row-title">
          <bdi>{name}</bdi>
        </h2>
        <p class="small">
          Suspended by <bdi>{plainName(u.by)}</bdi>{' '}
          <time dateTime={u.at} title={date(u.at)}>
            {ago(u.at)}
          </time>
          : <span dir="auto">{u.reason}</span>
        </p>
        <Status error={error} busy={busy ? 'Unsuspending…' : null} />
        <button type="button" class="secondary" disabled={busy} onClick={() => void go()} aria-label={`Unsuspend ${name}`}>
          Unsuspend
        </button>
      </div>
    </li>
  );
}

/** Suspended accounts, with Unsuspend. */
export default function SuspendedPage() {
  const list = usePaged(() => suspended(), []);
  const [said, setSaid] = useState('');
  return (
    <>
      <h1>Suspended accounts</h1>
      <ModNav here="/moderation/suspended" />
      <p role="status" class="muted small">
        {said}
      </p>
      {list.done && !list.error && list.items.length === 0 && <p class="muted">No account is suspended.</p>}
      <ul class="rows" aria-label="Suspended accounts">
        {list.items.map((u) => (
          <Row
            key={u.id}
            u={u}
            onDone={() => {
              setSaid(`${plainName(u.username)} may sign in again.`);
              list.update((x) => x.id === u.id, null);
            }}
          />
        ))}
      </ul>
      <MoreOnScroll list={list} what="accounts" />
    </>
  );
}
