import { useEffect, useState } from 'preact/hooks';
import { toProblem, type ApiProblem, type NotificationSettings } from '../../api/client';
import { Status } from '../../components/Status';
import { saveSettings, settings } from './data';

const KINDS: { key: keyof NotificationSettings; label: string }[] = [
  { key: 'new_video_from_subscription', label: 'New videos from channels I subscribe to' },
  { key: 'my_video_ready', label: 'My video is ready' },
  { key: 'my_video_failed', label: 'My video could not be processed' },
  { key: 'new_subscriber', label: 'Someone subscribed to my channel' },
];

/** Per type: shown on the web, or not kept at all. Each change is saved at once. */
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
  const change = async (key: keyof NotificationSettings, web: boolean) => {
    if (!s) return;
    const before = s;
    // The box shows the choice at once; it goes back if the server refuses it.
    setS({ ...s, [key]: { ...s[key], web } });
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
      {s && (
        <fieldset class="stack settings">
          <legend>Show on the web</legend>
          {KINDS.map((k) => (
            <label class="check" key={k.key}>
              <input
                type="checkbox"
                checked={s[k.key].web}
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
