import { useState } from 'preact/hooks';
import { api, ok, toProblem, type ApiProblem, type Video } from '../../api/client';
import { Status } from '../../components/Status';

async function setHidden(id: string, reason: string | null): Promise<void> {
  const params = { path: { id } };
  const r = reason === null ? await api.DELETE('/api/v1/videos/{id}/hidden', { params }) : await api.PUT('/api/v1/videos/{id}/hidden', { params, body: { reason } });
  if (!r.response.ok) ok(r);
}

/** For moderators: hide the video from everyone but its owner (with a reason the owner sees),
 * or show it again. */
export function HideVideo({ video, onChange }: { video: Video; onChange: (hidden: Video['hidden']) => void }) {
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiProblem | null>(null);
  const run = async (r: string | null) => {
    setBusy(true);
    setError(null);
    try {
      await setHidden(video.id, r);
      onChange(r === null ? null : { reason: r, at: new Date().toISOString() });
      setOpen(false);
    } catch (e) {
      setError(toProblem(e));
    } finally {
      setBusy(false);
    }
  };
  if (video.hidden)
    return (
      <>
        <button type="button" class="secondary" disabled={busy} onClick={() => void run(null)}>
          Unhide
        </button>
        <Status error={error} />
      </>
    );
  return open ? (
    <form
      class="inline-form confirm"
      aria-label="Hide this video"
      onSubmit={(e) => {
        e.preventDefault();
        void run(reason.trim());
      }}
    >
      <div class="field">
        <label for="hide-reason">Why (the owner sees it)</label>
        <input id="hide-reason" required maxLength={500} value={reason} dir="auto" onInput={(e) => setReason(e.currentTarget.value)} />
      </div>
      <button type="submit" class="danger" disabled={busy}>
        Hide video
      </button>
      <button type="button" class="secondary" onClick={() => setOpen(false)}>
        Cancel
      </button>
      <Status error={error} />
    </form>
  ) : (
    <button type="button" class="secondary" onClick={() => setOpen(true)}>
      Hide…
    </button>
  );
}
