import { Avatar } from '../../components/Avatar';
import { MoreOnScroll } from '../../components/MoreOnScroll';
import { usePaged } from '../../lib/paged';
import { channels } from './data';

/** The channels the user subscribes to. */
export default function SubscriptionsPage() {
  const subs = usePaged(channels, []);
  return (
    <>
      <h1>Subscriptions</h1>
      <section aria-labelledby="subs-channels-h">
        <h2 id="subs-channels-h">Channels</h2>
        {subs.done && !subs.error && subs.items.length === 0 && (
          <p class="muted">You subscribe to no channel yet. A channel’s page has a Subscribe button.</p>
        )}
        <ul class="channel-chips" aria-label="Subscribed channels">
          {subs.items.map((s) => (
            <li key={s.channel.id}>
              <a href={`/c/${encodeURIComponent(s.channel.handle)}`}>
                <Avatar channel={s.channel} size="small" />
                <span dir="auto">{s.channel.display_name}</span>
              </a>
            </li>
          ))}
        </ul>
        {!subs.done && <MoreOnScroll list={subs} what="channels" />}
      </section>
    </>
  );
}
