import { Avatar } from '../../components/Avatar';
import { SubscribeButton, subscribers } from '../../components/SubscribeButton';
import { useFollowed } from '../../lib/subscriptions';
import { useSession } from '../../session';

/** Under the player: the video's channel (avatar, name, subscribers) and its subscribe button. */
export function ChannelBlock({ handle }: { handle: string }) {
  const s = useSession();
  const f = useFollowed(handle, s.status === 'signed-in');
  const c = f.channel;
  if (!c) return null;
  const href = `/c/${encodeURIComponent(c.handle)}`;
  return (
    <section class="channel-block" aria-label="Channel">
      <a href={href} class="channel-block-link" tabIndex={-1} aria-hidden="true">
        <Avatar channel={c} size="small" />
      </a>
      <div class="channel-block-text">
        <a href={href} class="channel-name" dir="auto">
          {c.display_name}
        </a>
        <p class="muted small">{subscribers(c.subscribers)}</p>
      </div>
      <SubscribeButton channel={c} subscribed={f.subscribed} onChange={f.apply} />
    </section>
  );
}
