import type { Notification } from '../../api/client';
import { plainName } from '../../lib/text';

/** What issue 23 adds to a notification: the comment or the report it is about. */
type Extras = {
  comment?: { id: string; video_id: string; thread_id: string; excerpt: string } | null;
  report?: { id: string; state: string } | null;
};

/** What a notification says, as text (names and titles are whatever people typed), with a link
 * to what it is about. */
export function NotificationText({ n: plain }: { n: Notification }) {
  const n = plain as Notification & Extras;
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
  const who = <bdi>{plainName(n.actor?.username ?? 'Someone')}</bdi>;
  const onVideo = n.comment ? (
    <a href={`/watch/${encodeURIComponent(n.comment.video_id)}`} dir="auto">
      {n.video?.title ?? 'a video'}
    </a>
  ) : (
    video
  );
  const excerpt = n.comment?.excerpt ? (
    <>
      : <q dir="auto">{n.comment.excerpt}</q>
    </>
  ) : null;
  const reportLink = n.report ? <a href={`/me/reports/${encodeURIComponent(n.report.id)}`}>your report</a> : <span>your report</span>;
  switch (n.type as string) {
    case 'comment_on_my_video':
      return (
        <>
          {who} commented on {onVideo}
          {excerpt}
        </>
      );
    case 'reply_to_my_comment':
      return (
        <>
          {who} replied to your comment on {onVideo}
          {excerpt}
        </>
      );
    case 'mention':
      return (
        <>
          {who} mentioned you on {onVideo}
          {excerpt}
        </>
      );
    case 'comment_held_for_review':
      return (
        <>
          A comment by {who} on {onVideo} waits for your review
          {excerpt}
        </>
      );
    case 'abuse_state_change':
      return (
        <>
          The moderators marked {reportLink} as {n.report?.state ?? 'changed'}
        </>
      );
    case 'abuse_new_message':
      return <>The moderators wrote about {reportLink}</>;
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
