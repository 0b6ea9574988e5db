import { useEffect, useState } from 'preact/hooks';
import { PLANS, toProblem, type ApiProblem, type ClusterView, type Plan, type User, type Video } from '../../api/client';
import { MoreOnScroll } from '../../components/MoreOnScroll';
import { Status } from '../../components/Status';
import { ago, count } from '../../lib/format';
import { usePaged } from '../../lib/paged';
import { me, reloadMe } from '../../session';
import { retry } from '../my-videos/data';
import { plainName } from '../../lib/text';
import { suspend, unsuspend } from '../moderation/data';
import { accountState } from '../../api/pending';
import { cluster, deleteUserNow, failed, setEmailVerified, setPlan, setRole, user, users } from './data';

function PlanCell({ u, onSaved }: { u: User; onSaved: (u: User) => void }) {
  const [plan, setP] = useState<Plan>(u.plan);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiProblem | null>(null);
  const [saved, setSaved] = useState(false);
  const id = `plan-${u.id}`;
  const save = async () => {
    setBusy(true);
    setError(null);
    setSaved(false);
    try {
      const nu = await setPlan(u.username, plan);
      onSaved(nu);
      setSaved(true);
      if (me()?.username === nu.username) await reloadMe();
    } catch (e) {
      setError(toProblem(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="plan-cell">
      <label for={id} class="sr-only">
        Plan for {u.username}
      </label>
      <select id={id} value={plan} onChange={(e) => setP(e.currentTarget.value as Plan)}>
        {PLANS.map((p) => (
          <option key={p} value={p}>
            {p}
          </option>
        ))}
      </select>
      <button type="button" disabled={busy || plan === u.plan} onClick={() => void save()} aria-label={`Set plan for ${u.username}`}>
        {busy ? 'Saving…' : 'Set plan'}
      </button>
      {saved && <span role="status">Saved</span>}
      <Status error={error} />
    </div>
  );
}

/** The moderator switch: admins grant and take the role (an admin stays an admin). */
function RoleCell({ u, onSaved }: { u: User; onSaved: (u: User) => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiProblem | null>(null);
  if (u.role === 'admin') return <>admin</>;
  const name = plainName(u.username);
  const moderator = u.role === 'moderator';
  const toggle = async (on: boolean) => {
    setBusy(true);
    setError(null);
    try {
      onSaved(await setRole(u.username, on ? 'moderator' : 'user'));
    } catch (e) {
      setError(toProblem(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <label class="check">
        <input type="checkbox" role="switch" checked={moderator} disabled={busy} aria-label={`Moderator: ${name}`} onChange={(e) => void toggle(e.currentTarget.checked)} />{' '}
        {moderator ? 'moderator' : 'user'}
      </label>
      <Status error={error} />
    </>
  );
}

/** Suspend (with a reason) or unsuspend an account. */
function SuspendCell({ u, onSaved }: { u: User; onSaved: (u: User) => void }) {
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiProblem | null>(null);
  const name = plainName(u.username);
  const run = async (go: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await go();
      onSaved(await user(u.username));
      setOpen(false);
      setReason('');
    } catch (e) {
      setError(toProblem(e));
    } finally {
      setBusy(false);
    }
  };
  if (u.role === 'admin') return <>–</>;
  if (u.suspended)
    return (
      <div class="plan-cell">
        <span>
          Suspended: <span dir="auto">{u.suspended.reason}</span>
        </span>
        <button type="button" class="secondary" disabled={busy} aria-label={`Unsuspend ${name}`} onClick={() => void run(() => unsuspend(u.username))}>
          Unsuspend
        </button>
        <Status error={error} />
      </div>
    );
  return open ? (
    <form
      class="plan-cell"
      onSubmit={(e) => {
        e.preventDefault();
        void run(() => suspend(u.username, reason.trim()));
      }}
    >
      <label for={`susp-${u.id}`} class="sr-only">
        Why suspend {name}
      </label>
      <input id={`susp-${u.id}`} required maxLength={500} placeholder="Reason" value={reason} dir="auto" onInput={(e) => setReason(e.currentTarget.value)} />
      <button type="submit" class="danger" disabled={busy} aria-label={`Suspend ${name} now`}>
        Suspend
      </button>
      <button type="button" class="secondary" onClick={() => setOpen(false)}>
        Cancel
      </button>
      <Status error={error} />
    </form>
  ) : (
    <button type="button" class="secondary" aria-label={`Suspend ${name}`} onClick={() => setOpen(true)}>
      Suspend…
    </button>
  );
}

/** Whether the address is confirmed; the admin can override it either way. */
function VerifiedCell({ u, onSaved }: { u: User; onSaved: (u: User) => void }) {
  const verified = accountState(u).email_verified;
  // The switch moves at once and goes back if the server refuses.
  const [on, setOn] = useState(verified);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiProblem | null>(null);
  useEffect(() => setOn(verified), [verified]);
  if (on === undefined) return <>–</>;
  const toggle = async (next: boolean) => {
    setOn(next);
    setBusy(true);
    setError(null);
    try {
      onSaved(await setEmailVerified(u.username, next));
    } catch (e) {
      setOn(verified);
      setError(toProblem(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <label class="check">
        <input
          type="checkbox"
          role="switch"
          checked={on}
          disabled={busy}
          aria-label={`Email confirmed: ${plainName(u.username)}`}
          onChange={(e) => void toggle(e.currentTarget.checked)}
        />{' '}
        {on ? 'confirmed' : 'not confirmed'}
      </label>
      <Status error={error} />
    </>
  );
}

/** Deletes an account at once, with a reason (the audit log keeps it). */
function DeleteCell({ u, onDeleted }: { u: User; onDeleted: () => void }) {
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiProblem | null>(null);
  const name = plainName(u.username);
  if (u.role === 'admin') return <>–</>;
  const scheduled = accountState(u).deletion_scheduled_at;
  if (!open)
    return (
      <div class="plan-cell">
        {scheduled && <span>Deletion asked for {ago(scheduled)}</span>}
        <button type="button" class="secondary" aria-label={`Delete ${name}`} onClick={() => setOpen(true)}>
          Delete…
        </button>
      </div>
    );
  return (
    <form
      class="plan-cell"
      onSubmit={(e) => {
        e.preventDefault();
        setBusy(true);
        setError(null);
        deleteUserNow(u.username, reason.trim())
          .then(onDeleted)
          .catch((err: unknown) => {
            setError(toProblem(err));
            setBusy(false);
          });
      }}
    >
      <label for={`del-${u.id}`} class="sr-only">
        Why delete {name}
      </label>
      <input id={`del-${u.id}`} required maxLength={500} placeholder="Reason" value={reason} dir="auto" onInput={(e) => setReason(e.currentTarget.value)} />
      <button type="submit" class="danger" disabled={busy} aria-label={`Delete ${name} now`}>
        Delete now
      </button>
      <button type="button" class="secondary" onClick={() => setOpen(false)}>
        Cancel
      </button>
      <Status error={error} busy={busy ? 'Deleting…' : null} />
    </form>
  );
}

function UserRow({ u, onSaved, onDeleted }: { u: User; onSaved: (u: User) => void; onDeleted: () => void }) {
  return (
    <tr>
      <th scope="row" dir="auto">
        {u.username}
      </th>
      <td>{u.email}</td>
      <td>
        <VerifiedCell u={u} onSaved={onSaved} />
      </td>
      <td>
        <RoleCell u={u} onSaved={onSaved} />
      </td>
      <td>
        <PlanCell u={u} onSaved={onSaved} />
      </td>
      <td>
        <SuspendCell u={u} onSaved={onSaved} />
      </td>
      <td>
        <DeleteCell u={u} onDeleted={onDeleted} />
      </td>
    </tr>
  );
}

function Users() {
  const list = usePaged(users, []);
  const [lookup, setLookup] = useState('');
  const [found, setFound] = useState<User | null>(null);
  const [error, setError] = useState<ApiProblem | null>(null);
  const find = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setFound(null);
    try {
      setFound(await user(lookup.trim()));
    } catch (err) {
      setError(toProblem(err));
    }
  };
  const saved = (nu: User) => {
    list.update((x) => x.id === nu.id, nu);
    if (found?.id === nu.id) setFound(nu);
  };
  const [deleted, setDeleted] = useState<string | null>(null);
  const gone = (u: User) => {
    list.update((x) => x.id === u.id, null);
    if (found?.id === u.id) setFound(null);
    setDeleted(u.username);
  };
  const rows = found ? [found, ...list.items.filter((u) => u.id !== found.id)] : list.items;
  return (
    <section aria-labelledby="users-h">
      <h2 id="users-h">Users</h2>
      <form class="inline-form" onSubmit={(e) => void find(e)}>
        <div class="field">
          <label for="find-user">Find a user</label>
          <input id="find-user" value={lookup} required onInput={(e) => setLookup(e.currentTarget.value)} />
        </div>
        <button type="submit">Find</button>
      </form>
      <Status error={error} />
      {deleted && (
        <p role="status" class="ok-line">
          Deleted <span dir="auto">{plainName(deleted)}</span>.
        </p>
      )}
      {rows.length > 0 && (
        <div class="table-wrap" role="region" aria-label="Users table" tabIndex={0}>
          <table>
            <thead>
              <tr>
                <th scope="col">Username</th>
                <th scope="col">Email</th>
                <th scope="col">Confirmed</th>
                <th scope="col">Role</th>
                <th scope="col">Plan</th>
                <th scope="col">Suspension</th>
                <th scope="col">Delete</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((u) => (
                <UserRow key={u.id} u={u} onSaved={saved} onDeleted={() => gone(u)} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <MoreOnScroll list={list} what="users" />
    </section>
  );
}

function Cluster() {
  const [view, setView] = useState<ClusterView | null>(null);
  const [error, setError] = useState<ApiProblem | null>(null);
  const load = () => {
    setError(null);
    cluster()
      .then(setView)
      .catch((e: unknown) => setError(toProblem(e)));
  };
  useEffect(() => {
    load();
    const t = setInterval(load, 5000);
    return () => clearInterval(t);
  }, []);
  return (
    <section aria-labelledby="cluster-h">
      <h2 id="cluster-h">Cluster</h2>
      <Status busy={!view && !error ? 'Loading the cluster…' : null} error={error} />
      {view && (
        <>
          <p>
            Mode {view.mode}; this node is <strong>{view.this_node}</strong>; {view.configured_members} configured member
            {view.configured_members === 1 ? '' : 's'}.
          </p>
          <div class="table-wrap" role="region" aria-label="Cluster members table" tabIndex={0}>
            <table>
              <thead>
                <tr>
                  <th scope="col">Member</th>
                  <th scope="col">Address</th>
                  <th scope="col">State</th>
                  <th scope="col">Last heartbeat</th>
                  <th scope="col">Actors by kind</th>
                </tr>
              </thead>
              <tbody>
                {view.members.map((m) => (
                  <tr key={m.name}>
                    <th scope="row">
                      {m.name}
                      {m.this_node && ' (this node)'}
                    </th>
                    <td>{m.address}</td>
                    <td>
                      <span class={`state state-${m.state}`}>{m.state}</span>
                    </td>
                    <td>{m.this_node ? '–' : `${count(m.last_seen_ms)} ms ago`}</td>
                    <td>
                      {Object.entries(m.actors)
                        .sort(([a], [b]) => a.localeCompare(b))
                        .map(([k, n]) => `${k}: ${count(n)}`)
                        .join(', ') || 'none'}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}

function FailedRow({ v, onDone }: { v: Video; onDone: (v: Video) => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiProblem | null>(null);
  const go = async () => {
    setBusy(true);
    setError(null);
    try {
      onDone(await retry(v.id));
    } catch (e) {
      setError(toProblem(e));
      setBusy(false);
    }
  };
  return (
    <li class="row">
      <div class="row-body">
        <h3 class="row-title" dir="auto">
          {v.title}
        </h3>
        <p class="muted small">
          by <span dir="auto">{v.owner}</span> · updated {ago(v.updated_at)}
        </p>
        <p class="problem">
          <span dir="auto">{v.failure_reason ?? 'no reason given'}</span>
        </p>
        <Status error={error} busy={busy ? 'Requeuing…' : null} />
        <button type="button" disabled={busy} onClick={() => void go()} aria-label={`Retry ${v.title}`}>
          Retry
        </button>
      </div>
    </li>
  );
}

function Failed() {
  const list = usePaged(failed, []);
  return (
    <section aria-labelledby="failed-h">
      <h2 id="failed-h">Failed videos</h2>
      {list.done && !list.error && list.items.length === 0 && <p class="muted">No failed videos.</p>}
      <ul class="rows" aria-label="Failed videos">
        {list.items.map((v) => (
          <FailedRow key={v.id} v={v} onDone={(nv) => list.update((x) => x.id === nv.id, nv.state === 'failed' ? nv : null)} />
        ))}
      </ul>
      <MoreOnScroll list={list} what="failed videos" />
    </section>
  );
}

export default function AdminPage() {
  return (
    <>
      <h1>Admin</h1>
      <Users />
      <Cluster />
      <Failed />
    </>
  );
}
