import { useState } from 'preact/hooks';
import { REPORT_REASONS, toProblem, type ApiProblem, type Report, type ReportReason, type ReportTarget } from '../api/client';
import { duration } from '../lib/format';
import { sendReport } from '../lib/reports';
import { Dialog } from './Dialog';
import { Status } from './Status';

/** "1:15", "1:02:05" or "75" (seconds) → seconds; null when it is none of these. */
export function parseTime(s: string): number | null {
  const t = s.trim();
  if (!t) return null;
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t);
  const m = /^(?:(\d+):)?(\d{1,2}):(\d{2})$/.exec(t);
  if (!m) return null;
  const secs = Number(m[1] ?? 0) * 3600 + Number(m[2]) * 60 + Number(m[3]);
  return Number(m[3]) < 60 ? secs : null;
}

/**
 * Reports a video (optionally a part of it), a comment or an account: a reason from the list,
 * free text, and once sent a link to the report's page, where the moderators may write back.
 */
export function ReportDialog({
  target,
  what,
  at,
  length,
  onClose,
}: {
  target: ReportTarget;
  /** "this video", "the comment by …": the dialog's title says what is reported. */
  what: string;
  /** For a video: the player's time, offered as the start of the part. */
  at?: number;
  /** For a video: its length, the end of a part at most. */
  length?: number | null;
  onClose: () => void;
}) {
  const [reason, setReason] = useState<ReportReason | null>(null);
  const [text, setText] = useState('');
  const [part, setPart] = useState(false);
  const [from, setFrom] = useState(at != null ? duration(at) : '0:00');
  const [to, setTo] = useState(length != null ? duration(length) : '');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiProblem | string | null>(null);
  const [sent, setSent] = useState<Report | null>(null);
  const isVideo = 'video' in target;
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!reason) {
      setError('Choose a reason.');
      return;
    }
    let t = target;
    if (isVideo && part) {
      const start = parseTime(from);
      const end = parseTime(to);
      if (start == null || end == null || end <= start) {
        setError('The part of the video needs a start and an end after it, as 1:15 or in seconds.');
        return;
      }
      t = { video: { id: target.video.id, start, end } };
    }
    if (!text.trim()) {
      setError('Say in a few words what is wrong (the details are required).');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      setSent(await sendReport(t, reason, text.trim()));
    } catch (err) {
      setError(toProblem(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog open title={`Report ${what}`} onClose={onClose}>
      {sent ? (
        <div class="stack">
          <p role="status">Thank you. Your report was sent; the moderators will look at it.</p>
          <p>
            <a href={`/me/reports/${encodeURIComponent(sent.id)}`}>See your report</a>
          </p>
          <div class="actions">
            <button type="button" onClick={onClose}>
              Close
            </button>
          </div>
        </div>
      ) : (
        <form class="stack" onSubmit={(e) => void submit(e)}>
          <fieldset class="field reasons">
            <legend>Reason</legend>
            {REPORT_REASONS.map((r) => (
              <label class="check" key={r.value}>
                <input type="radio" name="report-reason" value={r.value} checked={reason === r.value} onChange={() => setReason(r.value)} /> {r.label}
              </label>
            ))}
          </fieldset>
          {isVideo && (
            <fieldset class="field">
              <legend>Where</legend>
              <label class="check">
                <input type="checkbox" checked={part} onChange={(e) => setPart(e.currentTarget.checked)} /> Only a part of the video
              </label>
              {part && (
                <div class="inline-fields">
                  <div class="field">
                    <label for="report-from">From</label>
                    <input id="report-from" inputMode="numeric" value={from} onInput={(e) => setFrom(e.currentTarget.value)} />
                  </div>
                  <div class="field">
                    <label for="report-to">To</label>
                    <input id="report-to" inputMode="numeric" value={to} onInput={(e) => setTo(e.currentTarget.value)} />
                  </div>
                </div>
              )}
            </fieldset>
          )}
          <div class="field">
            <label for="report-text">Details</label>
            <textarea id="report-text" rows={4} maxLength={3000} aria-required="true" value={text} dir="auto" onInput={(e) => setText(e.currentTarget.value)} />
          </div>
          <Status error={error} busy={busy ? 'Sending the report…' : null} />
          <div class="actions">
            <button type="submit" disabled={busy}>
              Send report
            </button>
            <button type="button" class="secondary" disabled={busy} onClick={onClose}>
              Cancel
            </button>
          </div>
        </form>
      )}
    </Dialog>
  );
}
