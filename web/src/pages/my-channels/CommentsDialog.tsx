import { useEffect, useState } from 'preact/hooks';
import { toProblem, type Ban, type ApiProblem, type Channel } from '../../api/client';
import { Dialog } from '../../components/Dialog';
import { Status } from '../../components/Status';
import { WatchedWordsForm } from '../../components/WatchedWordsForm';
import { plainName } from '../../lib/text';
import { bans, channelWords, saveChannelWords, unban } from './data';

function Bans({ handle }: { handle: string }) {
  const [list, setList] = useState<Ban[] | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiProblem | null>(null);
  useEffect(() => {
    bans(handle)
      .then(setList)
      .catch((e: unknown) => setError(toProblem(e)));
  }, [handle]);
  const lift = async (username: string) => {
    setBusy(true);
    setError(null);
    try {
      await unban(handle, username);
      setList((l) => (l ?? []).filter((b) => b.username !== username));
    } catch (e) {
      setError(toProblem(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="bans-h">
      <h3 id="bans-h">Banned from commenting</h3>
      <Status busy={!list && !error ? 'Loading…' : null} error={error} />
      {list && list.length === 0 && <p class="muted">Nobody is banned.</p>}
      {list && list.length > 0 && (
        <ul class="devices" aria-label="Banned accounts">
          {list.map((b) => (
            <li key={b.username}>
              <span>
                <bdi>{plainName(b.username)}</bdi>
                {b.reason && (
                  <span class="muted small">
                    {' '}
                    (<span dir="auto">{b.reason}</span>)
                  </span>
                )}
              </span>
              <button type="button" class="secondary" disabled={busy} aria-label={`Lift the ban on ${plainName(b.username)}`} onClick={() => void lift(b.username)}>
                Lift ban
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

/** A channel's comment moderation: its watched words and the accounts banned from it. */
export function CommentsDialog({ channel, onClose }: { channel: Channel; onClose: () => void }) {
  return (
    <Dialog open title={`Comments on @${channel.handle}`} onClose={onClose}>
      <section aria-labelledby="cw-h">
        <h3 id="cw-h">Watched words</h3>
        <p class="muted small">A comment with one of these words or phrases waits for your approval.</p>
        <WatchedWordsForm idPrefix="cw" load={() => channelWords(channel.handle)} save={(w) => saveChannelWords(channel.handle, w)} />
      </section>
      <Bans handle={channel.handle} />
      <div class="actions">
        <button type="button" class="secondary" onClick={onClose}>
          Close
        </button>
      </div>
    </Dialog>
  );
}
