import { useEffect } from 'preact/hooks';
import { Avatar } from '../../components/Avatar';
import { MoreOnScroll } from '../../components/MoreOnScroll';
import { Status } from '../../components/Status';
import { SubscribeButton, subscribers } from '../../components/SubscribeButton';
import { VideoGrid } from '../../components/VideoCard';
import { date } from '../../lib/format';
import { usePaged } from '../../lib/paged';
import { useFollowed } from '../../lib/subscriptions';
import { setTitle } from '../../lib/title';
import type { PageProps } from '../../routes';
import { useSession } from '../../session';
import { channelVideos } from './data';

/** A channel: its avatar, name, handle, description, subscriber and video counts, the subscribe
 * button, and its videos. Every string the owner typed renders as text. */
export default function ChannelPage({ params }: PageProps) {
  const handle = params.handle ?? '';
  const s = useSession();
  const f = useFollowed(handle, s.status === 'signed-in');
  const list = usePaged((cursor) => channelVideos(handle, cursor), [handle, s.status]);
  const c = f.channel;
  useEffect(() => {
    if (c) setTitle(c.display_name);
  }, [c?.display_name]);

  if (f.error?.status === 404)
    return (
      <section class="notice">
        <h1>No such channel</h1>
        <p>
          There is no channel <span dir="auto">@{handle}</span>.
        </p>
        <p>
          <a href="/">Back to the home page</a>
        </p>
      </section>
    );
  if (!c)
    return (
      <section>
        <h1 class="sr-only">Channel</h1>
        <Status busy={f.error ? null : 'Loading the channel…'} error={f.error} />
      </section>
    );
  const mine = s.status === 'signed-in' && s.me.id === c.owner_id;
  return (
    <>
      <header class="channel-head">
        <Avatar channel={c} size="large" />
        <div class="channel-head-text">
          <h1 dir="auto">{c.display_name}</h1>
          <p class="muted">
            <span dir="auto">@{c.handle}</span>
            <span aria-hidden="true"> · </span>
            <span aria-live="polite">{subscribers(c.subscribers)}</span>
            <span aria-hidden="true"> · </span>
            <span>
              {c.videos} {c.videos === 1 ? 'video' : 'videos'}
            </span>
            <span aria-hidden="true"> · </span>
            <span>since {date(c.created_at)}</span>
          </p>
          <div class="actions">
            <SubscribeButton channel={c} subscribed={f.subscribed} onChange={f.apply} />
            {mine && (
              <a class="button secondary" href="/me/channels">
                Edit your channels
              </a>
            )}
          </div>
        </div>
      </header>
      {c.description && (
        <section aria-label="About the channel" class="description" dir="auto">
          {c.description}
        </section>
      )}
      <section aria-labelledby="channel-videos-h">
        <h2 id="channel-videos-h">Videos</h2>
        {list.done && !list.error && list.items.length === 0 && <p class="muted">No videos yet.</p>}
        <VideoGrid videos={list.items} label="Channel videos" />
        <MoreOnScroll list={list} what="videos" />
      </section>
    </>
  );
}
