import { useEffect, useState } from 'preact/hooks';
import { deviceId, toProblem, type ActiveStream, type ApiProblem, type Me } from '../../api/client';
import { accountState } from '../../api/pending';
import { Status } from '../../components/Status';
import { ago, date } from '../../lib/format';
import { endStream } from '../../player/playback';
import { navigate } from '../../router';
import { signOut, useSession } from '../../session';
import { Mutes } from './Mutes';
import { AccountSettings, DeleteAccount } from './Settings';
import { streams } from './data';

function Streams() {
  const [list, setList] = useState<ActiveStream[] | null>(null);
  const [error, setError] = useState<ApiProblem | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const load = () => {
    setError(null);
    streams()
      .then(setList)
      .catch((e: unknown) => setError(toProblem(e)));
  };
  useEffect(load, []);
  const end = async (s: ActiveStream) => {
    setBusy(s.session_id);
    setError(null);
    try {
      await endStream(s.href ?? `/api/v1/playback/sessions/${s.session_id}`);
      setList((l) => (l ? l.filter((x) => x.session_id !== s.session_id) : l));
    } catch (e) {
      setError(toProblem(e));
    } finally {
      setBusy(null);
    }
  };
  const me = deviceId();
  return (
    <section aria-labelledby="streams-h">
      <div class="section-head">
        <h2 id="streams-h">Active streams</h2>
        <button type="button" class="secondary" onClick={load}>
          Refresh
        </button>
      </div>
      <Status busy={!list && !error ? 'Loading streams…' : null} error={error} />
      {list && list.length === 0 && <p class="muted">Nothing is playing on any of your devices.</p>}
      {list && list.length > 0 && (
        <ul class="devices" aria-label="Active streams">
          {list.map((s) => (
            <li key={s.session_id}>
              <div>
                <strong dir="auto">{s.device_id}</strong>
                {s.device_id === me && ' (this browser)'}
                <br />
                <span class="muted">
                  <a href={`/watch/${encodeURIComponent(s.video_id)}`}>the video</a>, started {ago(s.started_at)}, last seen {ago(s.last_seen)}
                </span>
              </div>
              <button type="button" disabled={busy !== null} aria-label={`End the stream on ${s.device_id}`} onClick={() => void end(s)}>
                {busy === s.session_id ? 'Ending…' : 'End'}
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function Profile({ me }: { me: Me }) {
  const [busy, setBusy] = useState(false);
  return (
    <>
      <section aria-labelledby="profile-h">
        <h2 id="profile-h">Profile</h2>
        <dl class="facts">
          <dt>Username</dt>
          <dd dir="auto">{me.username}</dd>
          <dt>Email</dt>
          <dd>
            {me.email}
            {accountState(me).email_verified === false && ' (not confirmed)'}
          </dd>
          <dt>Role</dt>
          <dd>{me.role}</dd>
          <dt>Member since</dt>
          <dd>{date(me.created_at)}</dd>
        </dl>
      </section>
      <section aria-labelledby="plan-h">
        <h2 id="plan-h">Plan</h2>
        <dl class="facts">
          <dt>Plan</dt>
          <dd class="plan">{me.plan}</dd>
          <dt>Streams at once</dt>
          <dd>{me.limits.max_streams}</dd>
          <dt>Best quality</dt>
          <dd>{me.limits.max_rendition}p</dd>
        </dl>
      </section>
      <AccountSettings me={me} />
      <Streams />
      <Mutes />
      <section aria-labelledby="reports-h">
        <h2 id="reports-h">Reports</h2>
        <p>
          <a href="/me/reports">My reports</a>: what you reported, its state, and the messages with the moderators.
        </p>
      </section>
      <DeleteAccount me={me} />
      <section aria-labelledby="signout-h">
        <h2 id="signout-h">Sign out</h2>
        <button
          type="button"
          class="secondary"
          disabled={busy}
          onClick={() => {
            setBusy(true);
            void signOut().finally(() => navigate('/'));
          }}
        >
          {busy ? 'Signing out…' : 'Sign out'}
        </button>
      </section>
    </>
  );
}

export default function AccountPage() {
  const s = useSession();
  return (
    <>
      <h1>Account</h1>
      {s.status === 'loading' && <Status busy="Checking your session…" />}
      {s.status === 'anonymous' && (
        <p>
          <a href="/signin?next=%2Faccount">Sign in</a> or <a href="/signup?next=%2Faccount">create an account</a>.
        </p>
      )}
      {s.status === 'signed-in' && <Profile me={s.me} />}
    </>
  );
}
