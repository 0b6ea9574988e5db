import { useState } from 'preact/hooks';
import { toProblem, type ApiProblem, type Channel, type SubscriptionChange } from '../api/client';
import { subscribe, unsubscribe } from '../lib/subscriptions';
import { currentPath } from '../router';
import { useSession } from '../session';
import { Status } from './Status';

/** Subscribe / Subscribed (a toggle button), or a sign-in link for an anonymous visitor.
 * `subscribed` is null while it is not known yet. */
export function SubscribeButton({
  channel,
  subscribed,
  onChange,
}: {
  channel: Channel;
  subscribed: boolean | null;
  onChange: (c: SubscriptionChange) => void;
}) {
  const s = useSession();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiProblem | null>(null);
  if (s.status !== 'signed-in')
    return (
      <a class="button" href={`/signin?next=${encodeURIComponent(currentPath())}`}>
        Sign in to subscribe
      </a>
    );
  const toggle = async () => {
    setBusy(true);
    setError(null);
    try {
      onChange(await (subscribed ? unsubscribe(channel.handle) : subscribe(channel.handle)));
    } catch (e) {
      setError(toProblem(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <span class="subscribe">
      <button
        type="button"
        class={subscribed ? 'secondary' : undefined}
        aria-pressed={subscribed ?? false}
        disabled={busy || subscribed === null}
        onClick={() => void toggle()}
      >
        {subscribed ? 'Subscribed' : 'Subscribe'}
      </button>
      <Status error={error} />
    </span>
  );
}

/** "1 subscriber", "1,234 subscribers". */
export function subscribers(n: number): string {
  return `${new Intl.NumberFormat().format(n)} ${n === 1 ? 'subscriber' : 'subscribers'}`;
}
