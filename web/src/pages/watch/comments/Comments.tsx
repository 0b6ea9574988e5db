import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { isStaff, toProblem, type ApiProblem, type Comment, type Video } from '../../../api/client';
import { Status } from '../../../components/Status';
import { count } from '../../../lib/format';
import { mute } from '../../../lib/mutes';
import { currentPath } from '../../../router';
import { useSession } from '../../../session';
import { CommentItem, type Viewer } from './CommentItem';
import { Composer } from './Composer';
import { comments, post, replies, type Sort } from './data';
import { appendPage, apply, fromPage, ordered, withReplies, withoutAuthor, type Thread } from './threads';

/** What the list takes from the video's event stream: each `comment` event, and word that the
 * stream is (again) connected, after which the list reads its first page once more so that a
 * comment posted before the stream was listening is not missed. */
export interface CommentSink {
  comment(c: Comment): void;
  caughtUp(): void;
}

/** Hands live `comment` events to the list (the watch page owns the one event stream). */
export type CommentFeed = (on: CommentSink | null) => void;

function Replies({
  t,
  video,
  viewer,
  onChange,
  onLoaded,
  onMute,
}: {
  t: Thread;
  video: string;
  viewer: Viewer;
  onChange: (c: Comment) => void;
  onLoaded: (loaded: Comment[], all: boolean) => void;
  onMute: (a: { id: string; username: string }) => void;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiProblem | null>(null);
  const shown = t.replies.length;
  const more = async () => {
    setBusy(true);
    setError(null);
    try {
      // All of them, page by page: a thread's replies are read oldest first.
      let all: Comment[] = [];
      let cursor: string | undefined;
      for (;;) {
        const page = await replies(video, t.root.id, cursor);
        all = all.concat(page.items);
        cursor = page.next_cursor ?? undefined;
        if (!cursor || page.items.length === 0) break;
      }
      onLoaded(all, true);
    } catch (e) {
      setError(toProblem(e));
    } finally {
      setBusy(false);
    }
  };
  if (shown === 0 && t.root.replies === 0) return null;
  return (
    <div class="replies">
      {shown > 0 && (
        <ul aria-label={`Replies to the comment by ${t.root.author?.username ?? 'a deleted comment'}`}>
          {t.replies.map((r) => (
            <li key={r.id}>
              <CommentItem c={r} video={video} viewer={viewer} onChange={onChange} onReplied={onChange} onMute={onMute} />
            </li>
          ))}
        </ul>
      )}
      <Status error={error} busy={busy ? 'Loading replies…' : null} />
      {!t.allReplies && t.root.replies > shown && !busy && (
        <button type="button" class="link" onClick={() => void more()}>
          {error ? 'Try again' : `Show all ${count(t.root.replies)} replies`}
        </button>
      )}
    </div>
  );
}

/** The comments under a video: the count, the sort, a new comment, the threads with their
 * replies, more on request, and new ones as they arrive live. */
export function Comments({ video, feed }: { video: Video; feed: CommentFeed }) {
  const s = useSession();
  const me = s.status === 'signed-in' ? s.me : null;
  const [sort, setSort] = useState<Sort>('new');
  const [threads, setThreadsState] = useState<Thread[]>([]);
  // The threads as last set, so a change and its effect on the count are one step.
  const current = useRef<Thread[]>([]);
  const setThreads = useCallback((next: Thread[] | ((old: Thread[]) => Thread[])) => {
    current.current = typeof next === 'function' ? next(current.current) : next;
    setThreadsState(current.current);
  }, []);
  const [total, setTotal] = useState<number | null>(video.comments ?? null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiProblem | null>(null);
  const [said, setSaid] = useState('');
  const cursor = useRef<string | null | undefined>(undefined);
  const gen = useRef(0);
  // The first page's read in flight, which a catch-up waits for (so its answer is the newer).
  const loading = useRef<Promise<unknown>>(Promise.resolve());
  // Live changes that came while the first page was read: the page may have been read before
  // them, so they are applied again on top of it (applying one twice changes nothing).
  const meanwhile = useRef<Comment[] | null>(null);
  const policy = video.comment_policy ?? 'enabled';
  const viewer: Viewer = {
    id: me?.id ?? null,
    owner: !!me && me.id === video.owner_id,
    staff: isStaff(me),
    open: policy !== 'disabled',
  };

  const load = useCallback(
    (first: boolean) => {
      if (first) setThreads([]);
      const mine = first ? ++gen.current : gen.current;
      setBusy(true);
      setError(null);
      const read = comments(video.id, sort, first ? undefined : cursor.current ?? undefined);
      if (first) {
        loading.current = read.catch(() => undefined);
        meanwhile.current = [];
      }
      read
        .then((page) => {
          if (mine !== gen.current) return;
          cursor.current = page.next_cursor ?? null;
          if (first) {
            let next = fromPage(page.items);
            let moved = 0;
            for (const c of meanwhile.current ?? []) {
              const r = apply(next, c);
              next = r.threads;
              moved += r.delta;
            }
            meanwhile.current = null;
            setThreads(next);
            setTotal(Math.max(0, page.total + moved));
          } else {
            setThreads((old) => appendPage(old, page.items));
            setTotal(page.total);
          }
        })
        .catch((e: unknown) => {
          if (mine === gen.current) setError(toProblem(e));
        })
        .finally(() => {
          if (mine === gen.current) setBusy(false);
        });
    },
    [video.id, sort, setThreads],
  );

  useEffect(() => {
    cursor.current = undefined;
    load(true);
  }, [load, me?.id]);

  // The count is the first page's `total`, moved by what happens here and live.
  const change = useCallback((c: Comment) => {
    meanwhile.current?.push(c);
    const r = apply(current.current, c);
    setThreads(r.threads);
    if (r.delta) setTotal((n) => (n == null ? n : Math.max(0, n + r.delta)));
  }, []);

  // The stream is listening now: read the first page again, after the first read, and add what
  // is not shown (posted between the two), with the exact count.
  const catchUp = useCallback(() => {
    const mine = gen.current;
    void loading.current
      .then(() => comments(video.id, sort, undefined))
      .then((page) => {
        if (mine !== gen.current) return;
        let next = current.current;
        for (const c of [...page.items].reverse()) next = apply(next, c).threads;
        setThreads(next);
        setTotal(page.total);
      })
      .catch(() => undefined);
  }, [video.id, sort, setThreads]);

  // Live arrivals from the video's event stream.
  useEffect(() => {
    feed({ comment: change, caughtUp: catchUp });
    return () => feed(null);
  }, [feed, change, catchUp]);

  const onMute = async (a: { id: string; username: string }) => {
    setSaid('');
    try {
      await mute(a.username);
      setThreads((old) => withoutAuthor(old, a.id));
      setSaid(`Muted ${a.username}: you will not see their comments.`);
    } catch (e) {
      setError(toProblem(e));
    }
  };

  const more = cursor.current !== null && cursor.current !== undefined;
  return (
    <section class="comments" aria-labelledby="comments-h">
      <div class="section-head">
        <h2 id="comments-h">{total == null ? 'Comments' : `${count(total)} ${total === 1 ? 'comment' : 'comments'}`}</h2>
        <div class="field inline">
          <label for="comments-sort">Sort by</label>
          <select id="comments-sort" value={sort} onChange={(e) => setSort(e.currentTarget.value as Sort)}>
            <option value="new">Newest first</option>
            <option value="top">Top comments</option>
          </select>
        </div>
      </div>
      {policy === 'disabled' ? (
        <p class="muted">Comments are turned off for this video.</p>
      ) : me ? (
        <Composer
          label="Add a comment"
          submit="Comment"
          note={policy === 'approval' && !viewer.owner ? 'Comments on this video are shown once the owner approves them.' : null}
          onSend={async (text) => {
            const c = await post(video.id, text);
            change(c);
            setSaid(c.held ? 'Your comment is held for review: only you, the owner and the moderators see it until it is approved.' : '');
          }}
        />
      ) : (
        <p>
          <a href={`/signin?next=${encodeURIComponent(currentPath())}`}>Sign in to comment</a>
        </p>
      )}
      <p role="status" class="muted small">
        {said}
      </p>
      {threads.length > 0 && (
        <ul class="comment-list" aria-label="Comments">
          {ordered(threads).map((t) => (
            <li key={t.root.id}>
              <CommentItem c={t.root} video={video.id} viewer={viewer} onChange={change} onReplied={change} onMute={(a) => void onMute(a)}>
                <Replies
                  t={t}
                  video={video.id}
                  viewer={viewer}
                  onChange={change}
                  onMute={(a) => void onMute(a)}
                  onLoaded={(loaded, all) => setThreads((old) => withReplies(old, t.root.id, loaded, all))}
                />
              </CommentItem>
            </li>
          ))}
        </ul>
      )}
      {!busy && !error && threads.length === 0 && policy !== 'disabled' && <p class="muted">No comments yet.</p>}
      <div class="more">
        <Status error={error} busy={busy ? 'Loading comments…' : null} />
        {!busy && (more || error) && (
          <button type="button" class="secondary" onClick={() => load(!more)}>
            {error ? 'Try again' : 'More comments'}
          </button>
        )}
      </div>
    </section>
  );
}
