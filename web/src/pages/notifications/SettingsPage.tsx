import { useEffect, useState } from 'preact/hooks';
import { toProblem, type ApiProblem, type NotificationSettings } from '../../api/client';
import type { DigestView } from '../../api/pending';
import { date } from '../../lib/format';
import { Status } from '../../components/Status';
import { digestSettings, saveDigest, saveSettings, settings, type EmailMode, type TypeChange } from './data';

const KINDS: { key: string; label: string }[] = [
  { key: 'new_video_from_subscription', label: 'New videos from channels I subscribe to' },
  { key: 'my_video_ready', label: 'My video is ready' },
  { key: 'my_video_failed', label: 'My video could not be processed' },
  { key: 'new_subscriber', label: 'Someone subscribed to my channel' },
  { key: 'comment_on_my_video', label: 'Someone commented on my video' },
  { key: 'reply_to_my_comment', label: 'Someone replied to my comment' },
  { key: 'mention', label: 'Someone mentioned me in a comment' },
  { key: 'comment_held_for_review', label: 'A comment on my video waits for my review' },
  { key: 'abuse_state_change', label: 'The moderators decided on my report' },
  { key: 'abuse_new_message', label: 'The moderators wrote about my report' },
];

const EMAIL_MODES: { value: EmailMode; label: string }[] = [
  { value: 'off', label: 'Off' },
  { value: 'instant', label: 'At once' },
  { value: 'digest', label: 'Daily digest' },
];

type Setting = { web: boolean; email?: EmailMode };
/** The settings by kind (the server's, which lists the kinds it knows). */
type ByKind = Record<string, Setting | undefined>;

/** The IANA time zones this browser knows, and the browser's own. */
function zones(): { all: string[]; mine: string } {
  const mine = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  let all: string[] = [];
  try {
    all = (Intl as unknown as { supportedValuesOf?: (k: string) => string[] }).supportedValuesOf?.('timeZone') ?? [];
  } catch {
    all = [];
  }
  // `UTC` is not always listed (it is an alias in CLDR), yet it is the server's default.
  const set = new Set(all);
  for (const z of ['UTC', mine]) if (!set.has(z)) all = [z, ...all];
  return { all, mine };
}

const HOURS = Array.from({ length: 24 }, (_, h) => h);
const hourLabel = (h: number) => `${String(h).padStart(2, '0')}:00`;

/** The digest's hour and time zone (its own settings). The zone starts as the browser's while
 * the account has the server's default (UTC); Save stores both. */
function DigestForm() {
  const { all, mine } = zones();
  const [d, setD] = useState<DigestView | null>(null);
  const [hour, setHour] = useState(8);
  const [zone, setZone] = useState(mine);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiProblem | null>(null);
  const [said, setSaid] = useState('');
  const show = (v: DigestView) => {
    setD(v);
    setHour(v.digest_hour);
    setZone(v.time_zone === 'UTC' ? mine : v.time_zone);
  };
  useEffect(() => {
    digestSettings()
      .then(show)
      .catch((e: unknown) => setError(toProblem(e)));
  }, []);
  const changed = !!d && (hour !== d.digest_hour || zone !== d.time_zone);
  const save = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setSaid('');
    try {
      const v = await saveDigest(hour, zone);
      setD(v);
      setSaid('Saved.');
    } catch (err) {
      setError(toProblem(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="digest-h">
      <h2 id="digest-h">Daily digest</h2>
      <p>The types set to “Daily digest” come together in one email a day, at this hour, only when there is something new.</p>
      <Status busy={!d && !error ? 'Loading the digest settings…' : null} error={error} />
      {d && (
        <>
          <p>
            Now:{' '}
            <strong>
              {hourLabel(d.digest_hour)}, {d.time_zone}
            </strong>
            .{' '}
            {d.pending > 0 && d.next_due_at
              ? `${d.pending} notification${d.pending === 1 ? '' : 's'} wait for the next one, ${date(d.next_due_at)}.`
              : 'Nothing waits for it.'}
            {d.last_sent_at ? ` The last went out ${date(d.last_sent_at)}.` : ''}
          </p>
          <form class="digest-form" onSubmit={(e) => void save(e)}>
            <div class="field">
              <label for="digest-hour">Hour</label>
              <select id="digest-hour" value={String(hour)} onChange={(e) => setHour(Number(e.currentTarget.value))}>
                {HOURS.map((h) => (
                  <option key={h} value={String(h)}>
                    {hourLabel(h)}
                  </option>
                ))}
              </select>
            </div>
            <div class="field">
              <label for="digest-zone">Time zone</label>
              <select id="digest-zone" value={zone} onChange={(e) => setZone(e.currentTarget.value)}>
                {all.map((z) => (
                  <option key={z} value={z}>
                    {z === mine ? `${z} (this device)` : z}
                  </option>
                ))}
              </select>
            </div>
            <div>
              <button type="submit" disabled={busy || !changed}>
                Save the digest time
              </button>
            </div>
          </form>
        </>
      )}
      <p role="status" class="muted small">
        {said}
      </p>
    </section>
  );
}

/** Per type: shown on the web (or not kept at all), and emailed at once, in the daily digest,
 * or not. Each change is saved at once. Only the types the server lists are shown. */
export default function NotificationSettingsPage() {
  const [s, setS] = useState<NotificationSettings | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<ApiProblem | null>(null);
  const [said, setSaid] = useState('');
  useEffect(() => {
    settings()
      .then(setS)
      .catch((e: unknown) => setError(toProblem(e)));
  }, []);
  const byKind = s as ByKind | null;
  const change = async (key: string, c: TypeChange) => {
    if (!s || !byKind) return;
    const before = s;
    // The control shows the choice at once; it goes back if the server refuses it.
    setS({ ...s, [key]: { ...byKind[key], ...c } });
    setBusy(key);
    setError(null);
    setSaid('');
    try {
      setS(await saveSettings({ [key]: c }));
      setSaid('Saved.');
    } catch (e) {
      setS(before);
      setError(toProblem(e));
    } finally {
      setBusy(null);
    }
  };
  const shown = byKind ? KINDS.filter((k) => byKind[k.key]) : [];
  return (
    <>
      <h1>Notification settings</h1>
      <p>
        <a href="/me/notifications">Back to the notifications</a>
      </p>
      <Status busy={!s && !error ? 'Loading your settings…' : null} error={error} />
      {byKind && (
        <>
          <div class="table-wrap" role="region" aria-label="Notification types" tabIndex={0}>
            <table class="settings-table">
              <caption class="sr-only">For each type of notification: on the web, and by email</caption>
              <thead>
                <tr>
                  <th scope="col">Type</th>
                  <th scope="col">On the web</th>
                  <th scope="col">By email</th>
                </tr>
              </thead>
              <tbody>
                {shown.map((k) => (
                  <tr key={k.key}>
                    <th scope="row">{k.label}</th>
                    <td>
                      <input
                        type="checkbox"
                        aria-label={`On the web: ${k.label}`}
                        checked={byKind[k.key]?.web ?? true}
                        disabled={busy !== null}
                        onChange={(e) => void change(k.key, { web: e.currentTarget.checked })}
                      />
                    </td>
                    <td>
                      <select
                        aria-label={`By email: ${k.label}`}
                        value={byKind[k.key]?.email ?? 'off'}
                        disabled={busy !== null}
                        onChange={(e) => void change(k.key, { email: e.currentTarget.value as EmailMode })}
                      >
                        {EMAIL_MODES.map((m) => (
                          <option key={m.value} value={m.value}>
                            {m.label}
                          </option>
                        ))}
                      </select>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <p class="muted small">
            Off on the web, such notifications are not kept at all (an email still goes out if you ask for one). Every email has a link to turn that type
            off.
          </p>
          <p role="status" class="muted small">
            {said}
          </p>
          <DigestForm />
        </>
      )}
    </>
  );
}
