import { useEffect, useState } from 'preact/hooks';
import { toProblem, type ApiProblem, type NotificationSettings } from '../../api/client';
import { Status } from '../../components/Status';
import { saveSettings, settings } from './data';

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

type Setting = { web: boolean };
/** The settings by kind (the server's, which lists the kinds it knows). */
type ByKind = Record<string, Setting | undefined>;

/** Per type: shown on the web, or not kept at all. Each change is saved at once. Only the types
 * the server lists are shown. */
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
  const change = async (key: string, web: boolean) => {
    if (!s || !byKind) return;
    const before = s;
    // The box shows the choice at once; it goes back if the server refuses it.
    setS({ ...s, [key]: { ...byKind[key], web } });
    setBusy(key);
    setError(null);
    setSaid('');
    try {
      setS(await saveSettings({ [key]: { web } }));
      setSaid('Saved.');
    } catch (e) {
      setS(before);
      setError(toProblem(e));
    } finally {
      setBusy(null);
    }
  };
  return (
    <>
      <h1>Notification settings</h1>
      <p>
        <a href="/me/notifications">Back to the notifications</a>
      </p>
      <Status busy={!s && !error ? 'Loading your settings…' : null} error={error} />
      {byKind && (
        <fieldset class="stack settings">
          <legend>Show on the web</legend>
          {KINDS.filter((k) => byKind[k.key]).map((k) => (
            <label class="check" key={k.key}>
              <input
                type="checkbox"
                checked={byKind[k.key]?.web ?? true}
                disabled={busy !== null}
                onChange={(e) => void change(k.key, e.currentTarget.checked)}
              />{' '}
              {k.label}
            </label>
          ))}
          <p class="muted small">Turned off, such notifications are not kept at all. Email notifications come later.</p>
        </fieldset>
      )}
      <p role="status" class="muted small">
        {said}
      </p>
    </>
  );
}
