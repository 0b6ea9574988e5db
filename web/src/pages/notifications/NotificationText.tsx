import type { Notification } from '../../api/client';

/** What a notification says, as text (names and titles are whatever people typed), with a link
 * to what it is about. */
export function NotificationText({ n }: { n: Notification }) {
  const video = n.video ? (
    <a href={`/watch/${encodeURIComponent(n.video.id)}`} dir="auto">
      {n.video.title}
    </a>
  ) : (
    <span>a video</span>
  );
  const channel = n.channel ? (
    <a href={`/c/${encodeURIComponent(n.channel.handle)}`} dir="auto">
      {n.channel.display_name}
    </a>
  ) : (
    <span>a channel</span>
  );
  switch (n.type) {
    case 'new_video_from_subscription':
      return (
        <>
          {channel} published {video}
        </>
      );
    case 'my_video_ready':
      return <>Your video {video} is ready</>;
    case 'my_video_failed':
      return (
        <>
          Your video {video} could not be processed
          {n.reason ? (
            <>
              : <span dir="auto">{n.reason}</span>
            </>
          ) : null}
        </>
      );
    case 'new_subscriber':
      return (
        <>
          <span dir="auto">{n.actor?.username ?? 'Someone'}</span> subscribed to {channel}
        </>
      );
    default:
      return <>A notification</>;
  }
}
