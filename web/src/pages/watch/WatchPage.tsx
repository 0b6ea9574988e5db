import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { isStaff, toProblem, type ApiProblem, type Counts, type Rating, type Video } from '../../api/client';
import { ReportDialog } from '../../components/ReportDialog';
import { Status } from '../../components/Status';
import { watchVideo } from '../../lib/events';
import { setTitle } from '../../lib/title';
import { STATE_LABEL, count, date, duration, views } from '../../lib/format';
import { parseStart } from '../../lib/share';
import { preloadHls } from '../../player/engine';
import { currentPath } from '../../router';
import type { PageProps } from '../../routes';
import { sessionReady, useSession } from '../../session';
import { getVideo, rate } from './data';
import { ChannelBlock } from './ChannelBlock';
import { Comments, type CommentFeed, type CommentSink } from './comments/Comments';
import { EditDetails } from './EditDetails';
import { HideVideo } from './HideVideo';
import { Player } from './Player';
import { ShareDialog } from './Share';

function NotAvailable({ signedIn }: { signedIn: boolean }) {
  return (
    <section class="notice">
      <h1>This video is not available</h1>
      <p>It is private, or it was deleted, or the link is wrong.</p>
      {!signedIn && (
        <p>
          If it is yours, <a href={`/signin?next=${encodeURIComponent(currentPath())}`}>sign in</a> to watch it.
        </p>
      )}
      <p>
        <a href="/">Back to the home page</a>
      </p>
    </section>
  );
}

function Ratings({ video, counts, onCounts }: { video: Video; counts: Counts; onCounts: (c: Counts) => void }) {
  const s = useSession();
  // The caller's own rating comes with the video they read (so it shows after a reload); the
  // video's live events do not carry it, and then it stays what it was.
  const [mine, setMine] = useState<Rating>(video.my_rating ?? 'none');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiProblem | null>(null);
  useEffect(() => {
    if (video.my_rating) setMine(video.my_rating);
  }, [video.my_rating]);
  if (s.status !== 'signed-in') {
    return (
      <p class="ratings">
        <span>{count(counts.likes)} likes</span>
        <span aria-hidden="true"> · </span>
        <span>{count(counts.dislikes)} dislikes</span>
        <span aria-hidden="true"> · </span>
        <a href={`/signin?next=${encodeURIComponent(currentPath())}`}>Sign in to rate</a>
      </p>
    );
  }
  const set = async (r: Rating) => {
    const next = mine === r ? 'none' : r;
    setBusy(true);
    setError(null);
    try {
      const ack = await rate(video.id, next);
      setMine(ack.rating);
      onCounts(ack.counts);
    } catch (e) {
      setError(toProblem(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="ratings" role="group" aria-label="Rating">
      <button type="button" class="secondary" aria-pressed={mine === 'like'} disabled={busy} onClick={() => void set('like')}>
        Like <span class="count">{count(counts.likes)}</span>
      </button>
      <button
        type="button"
        class="secondary"
        aria-pressed={mine === 'dislike'}
        disabled={busy}
        onClick={() => void set('dislike')}
      >
        Dislike <span class="count">{count(counts.dislikes)}</span>
      </button>
      <Status error={error} />
    </div>
  );
}

function Processing({ video }: { video: Video }) {
  return (
    <div class="processing" role="status">
      <p>
        {video.state === 'failed'
          ? `Processing failed: ${video.failure_reason ?? 'no reason given'}`
          : `This video is not ready yet: ${STATE_LABEL[video.state] ?? video.state}.`}
      </p>
      {(video.state === 'processing' || video.state === 'queued') && (
        <progress max={100} value={video.progress} aria-label="Processing progress">
          {Math.round(video.progress)}%
        </progress>
      )}
    </div>
  );
}

export default function WatchPage({ params, query }: PageProps) {
  const id = params.id ?? '';
  const startAt = parseStart(query.get('t'));
  const s = useSession();
  const [video, setVideo] = useState<Video | null>(null);
  const [counts, setCounts] = useState<Counts | null>(null);
  const [error, setError] = useState<ApiProblem | null>(null);
  const [gone, setGone] = useState(false);
  const [sharing, setSharing] = useState<number | null>(null);
  const [editing, setEditing] = useState(false);
  const [saved, setSaved] = useState(false);
  const [reporting, setReporting] = useState<number | null>(null);
  // The comment list listens to the page's one event stream through this.
  const commentSink = useRef<CommentSink | null>(null);
  // Whether the stream has opened: a list that starts listening after that (its effect can run
  // after the stream's `open`) catches up at once, or a comment posted meanwhile would be lost.
  const streamOpen = useRef(false);
  const feed = useCallback<CommentFeed>((on) => {
    commentSink.current = on;
    if (on && streamOpen.current) on.caughtUp();
  }, []);
  const player = useRef<HTMLVideoElement | null>(null);
  const onElement = useCallback((el: HTMLVideoElement | null) => {
    player.current = el;
  }, []);

  useEffect(() => {
    let live = true;
    let stop = () => {};
    preloadHls();
    void (async () => {
      await sessionReady();
      try {
        const v = await getVideo(id);
        if (!live) return;
        setVideo(v);
        setCounts(v.counts ?? { views: 0, likes: 0, dislikes: 0 });
        setTitle(v.title);
        stop = watchVideo(id, {
          video: (nv) => {
            // The stream's video has no comment count or policy: keep those from the read.
            setVideo((old) =>
              old && old.version > nv.version
                ? old
                : { ...nv, comments: nv.comments ?? old?.comments, comment_policy: nv.comment_policy ?? old?.comment_policy },
            );
            if (nv.counts) setCounts(nv.counts);
          },
          counts: (c) => setCounts({ views: c.views, likes: c.likes, dislikes: c.dislikes }),
          comment: (c) => commentSink.current?.comment(c),
          opened: () => {
            streamOpen.current = true;
            commentSink.current?.caughtUp();
          },
          deleted: () => setGone(true),
        });
      } catch (e) {
        if (live) setError(toProblem(e));
      }
    })();
    return () => {
      live = false;
      streamOpen.current = false;
      stop();
    };
  }, [id, s.status]);

  if (error && (error.status === 404 || error.status === 403 || error.code === 'invalid_id'))
    return <NotAvailable signedIn={s.status === 'signed-in'} />;
  if (error || gone)
    return (
      <section>
        <h1>Watch</h1>
        <Status error={gone ? 'This video was deleted.' : error} />
      </section>
    );
  if (!video || !counts)
    return (
      <section>
        <h1 class="sr-only">Watch</h1>
        <Status busy="Loading the video…" />
      </section>
    );

  const mayEdit = s.status === 'signed-in' && (s.me.id === video.owner_id || s.me.role === 'admin');
  return (
    <article class="watch">
      {video.state === 'ready' ? <Player video={video} startAt={startAt} onElement={onElement} /> : <Processing video={video} />}
      {editing ? (
        <EditDetails
          video={video}
          onCancel={() => setEditing(false)}
          onSaved={(nv) => {
            setVideo((old) => (old && old.version > nv.version ? old : { ...nv, my_rating: old?.my_rating }));
            setTitle(nv.title);
            setEditing(false);
            setSaved(true);
          }}
        />
      ) : (
        <h1 dir="auto" class="watch-title">
          {video.title}
        </h1>
      )}
      <div class="watch-actions">
        <button type="button" class="secondary" onClick={() => setSharing(player.current?.currentTime ?? 0)}>
          Share
        </button>
        {mayEdit && !editing && (
          <button
            type="button"
            class="secondary"
            onClick={() => {
              setSaved(false);
              setEditing(true);
            }}
          >
            Edit details
          </button>
        )}
        {s.status === 'signed-in' && s.me.id !== video.owner_id && (
          <button type="button" class="secondary" onClick={() => setReporting(player.current?.currentTime ?? 0)}>
            Report
          </button>
        )}
        {s.status === 'signed-in' && isStaff(s.me) && <HideVideo video={video} onChange={(hidden) => setVideo((old) => (old ? { ...old, hidden } : old))} />}
        <p class="muted small" role="status">
          {saved ? 'Saved.' : ''}
        </p>
      </div>
      {video.hidden && (
        <p class="problem" role="note">
          The moderators hid this video: <span dir="auto">{video.hidden.reason}</span>. Only its owner and the moderators see it.
        </p>
      )}
      {video.channel && <ChannelBlock handle={video.channel} />}
      {sharing != null && <ShareDialog video={video} at={sharing} onClose={() => setSharing(null)} />}
      {reporting != null && (
        <ReportDialog
          target={{ video: { id: video.id } }}
          what="this video"
          at={reporting}
          length={video.duration_secs}
          onClose={() => setReporting(null)}
        />
      )}
      <div class="watch-meta">
        <p>
          <a href={`/search?owner=${encodeURIComponent(video.owner)}`} dir="auto">
            {video.owner}
          </a>
          <span aria-hidden="true"> · </span>
          <span aria-live="polite">{views(counts.views)}</span>
          <span aria-hidden="true"> · </span>
          <span>{date(video.created_at)}</span>
          {video.duration_secs != null && (
            <>
              <span aria-hidden="true"> · </span>
              <span>{duration(video.duration_secs)}</span>
            </>
          )}
          {video.visibility !== 'public' && (
            <>
              <span aria-hidden="true"> · </span>
              <span class="badge">{video.visibility}</span>
            </>
          )}
        </p>
        <Ratings video={video} counts={counts} onCounts={setCounts} />
      </div>
      {video.description && !editing && (
        <section aria-label="Description" class="description" dir="auto">
          {video.description}
        </section>
      )}
      {video.tags.length > 0 && (
        <ul class="tags" aria-label="Tags">
          {video.tags.map((t) => (
            <li key={t}>
              <a href={`/search?tag=${encodeURIComponent(t)}`} dir="auto">
                #{t}
              </a>
            </li>
          ))}
        </ul>
      )}
      <Comments video={video} feed={feed} />
    </article>
  );
}
