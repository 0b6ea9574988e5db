import { Avatar } from '../../components/Avatar';
import { MoreOnScroll } from '../../components/MoreOnScroll';
import { VideoGrid } from '../../components/VideoCard';
import { usePaged } from '../../lib/paged';
import { channels, feed } from './data';

/** The subscriptions feed: new videos of the channels the user follows, and those channels. */
export default function SubscriptionsPage() {
  const videos = usePaged(feed, []);
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
      <section aria-labelledby="subs-feed-h">
        <h2 id="subs-feed-h">New videos</h2>
        {videos.done && !videos.error && videos.items.length === 0 && <p class="muted">No videos from your subscriptions yet.</p>}
        <VideoGrid videos={videos.items} label="New videos from your subscriptions" />
        <MoreOnScroll list={videos} what="videos" />
      </section>
    </>
  );
}
