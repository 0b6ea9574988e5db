import { useState } from 'preact/hooks';
import { deviceId, toProblem, type ApiProblem } from '../../api/client';
import type { LimitProblem } from '../../api/pending';
import { Dialog } from '../../components/Dialog';
import { Status } from '../../components/Status';
import { ago } from '../../lib/format';
import { endStream, stopHrefs, upgradeHref } from '../../player/playback';

/** 429 `concurrent_limit_exceeded`: the live devices, a button to end each, and the upgrade. */
export function LimitDialog({
  problem,
  onEnded,
  onClose,
}: {
  problem: LimitProblem;
  /** A stream was ended: try to play again. */
  onEnded: () => void;
  onClose: () => void;
}) {
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<ApiProblem | null>(null);
  const hrefs = stopHrefs(problem);
  const upgrade = upgradeHref(problem);
  const next = problem.actions.find((a) => a.action === 'upgrade');
  const me = deviceId();

  const stop = async (sessionId: string) => {
    const href = hrefs.get(sessionId);
    if (!href) return;
    setBusy(sessionId);
    setError(null);
    try {
      await endStream(href);
      onEnded();
    } catch (e) {
      setError(toProblem(e));
    } finally {
      setBusy(null);
    }
  };

  return (
    <Dialog open title="Too many streams at once" onClose={onClose}>
      <p>{problem.detail}</p>
      <p>End one of these streams to watch here:</p>
      <ul class="devices">
        {problem.devices.map((d) => (
          <li key={d.session_id}>
            <div>
              <strong dir="auto">{d.device_id}</strong>
              {d.device_id === me && ' (this browser)'}
              <br />
              <span class="muted">
                started {ago(d.started_at)}, last seen {ago(d.last_seen)}
              </span>
            </div>
            <button
              type="button"
              disabled={busy !== null}
              aria-label={`End the stream on ${d.device_id}`}
              onClick={() => void stop(d.session_id)}
            >
              {busy === d.session_id ? 'Ending…' : 'End this stream'}
            </button>
          </li>
        ))}
      </ul>
      <Status error={error} />
      {upgrade && (
        <p>
          Or{' '}
          <a href={upgrade} data-external rel="noopener noreferrer">
            read about upgrading{next && next.action === 'upgrade' ? ` to ${next.plan} (${next.max_streams} streams)` : ''}
          </a>
          .
        </p>
      )}
      <div class="actions">
        <button type="button" class="secondary" onClick={onClose}>
          Close
        </button>
      </div>
    </Dialog>
  );
}
