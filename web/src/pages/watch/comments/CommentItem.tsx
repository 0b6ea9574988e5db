import { useState } from 'preact/hooks';
import { toProblem, type ApiProblem, type Comment } from '../../../api/client';
import { ReportDialog } from '../../../components/ReportDialog';
import { Status } from '../../../components/Status';
import { ago, date } from '../../../lib/format';
import { plainName, safeHref, splitAt } from '../../../lib/text';
import { Composer } from './Composer';
import { approve, edit, pin, post, reject, remove } from './data';

/** Who is looking, and what they may do to the comments of this video. */
export interface Viewer {
  id: string | null;
  /** The video's owner: pins, reviews and deletes. */
  owner: boolean;
  /** A moderator or an admin: reviews and deletes. */
  staff: boolean;
  /** Whether new comments and replies are taken (the policy is not `disabled`). */
  open: boolean;
}

const HELD_REASON: Record<string, string> = {
  link: 'it has a link',
  watched_word: 'it has a watched word',
  approval: 'the channel approves every comment',
  new_account: 'the account is new',
};

/** A comment's text as text, its links as `rel="nofollow ugc"` links and its mentions as links
 * to the person. The offsets are the server's (UTF-16, as JavaScript strings index). */
export function CommentText({ c }: { c: Comment }) {
  const text = c.text ?? '';
  type S = { start: number; end: number; url?: string; username?: string };
  const spans: S[] = [...(c.links ?? []), ...(c.mentions ?? [])];
  const parts = splitAt(text, spans, (s, part, i) => {
    if (s.url !== undefined) {
      const href = safeHref(s.url);
      return href ? (
        <a key={i} href={href} rel="nofollow ugc noopener noreferrer" target="_blank" data-external>
          {part}
        </a>
      ) : (
        part
      );
    }
    return (
      <a key={i} href={`/search?owner=${encodeURIComponent(s.username ?? '')}`} class="mention">
        {part}
      </a>
    );
  });
  return (
    <p class="comment-text" dir="auto">
      {parts}
    </p>
  );
}

/** The author's name with direction overrides and zero-width characters taken out, isolated
 * from the text around it. */
export function AuthorName({ name }: { name: string }) {
  return <bdi class="comment-author">{plainName(name)}</bdi>;
}

export function CommentItem({
  c,
  video,
  viewer,
  onChange,
  onReplied,
  onMute,
  children,
}: {
  c: Comment;
  video: string;
  viewer: Viewer;
  /** The comment as it is now after an action here (deleted: `deleted: true`). */
  onChange: (c: Comment) => void;
  /** A reply posted from here. */
  onReplied: (r: Comment) => void;
  onMute?: (author: { id: string; username: string }) => void;
  children?: preact.ComponentChildren;
}) {
  const [mode, setMode] = useState<'none' | 'reply' | 'edit' | 'delete' | 'ban' | 'report'>('none');
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<ApiProblem | null>(null);
  const [banReason, setBanReason] = useState('');
  const mine = !!viewer.id && c.author?.id === viewer.id;
  const signedIn = !!viewer.id;
  const topLevel = c.thread_id === c.id;
  const name = c.author ? plainName(c.author.username) : '';
  const label = c.deleted ? 'Deleted comment' : `Comment by ${name}`;
  const act = async (what: string, run: () => Promise<Comment | null>) => {
    setBusy(what);
    setError(null);
    try {
      const next = await run();
      setMode('none');
      if (next) onChange(next);
    } catch (e) {
      setError(toProblem(e));
    } finally {
      setBusy(null);
    }
  };
  const gone = (): Comment => ({ ...c, deleted: true, text: null, author: null, pinned: false, held: false });
  return (
    <article class={`comment${c.held ? ' held' : ''}${c.pinned ? ' pinned' : ''}`} aria-label={label}>
      <p class="comment-head small">
        {c.deleted || !c.author ? (
          <span class="muted">deleted</span>
        ) : (
          <a href={`/search?owner=${encodeURIComponent(c.author.username)}`}>
            <AuthorName name={c.author.username} />
          </a>
        )}
        <span aria-hidden="true"> · </span>
        <time dateTime={c.created_at} title={date(c.created_at)} class="muted">
          {ago(c.created_at)}
        </time>
        {c.edited_at && !c.deleted && (
          <span class="muted">
            {' '}
            (edited{' '}
            <time dateTime={c.edited_at} title={date(c.edited_at)}>
              {ago(c.edited_at)}
            </time>
            )
          </span>
        )}
        {c.pinned && <span class="badge">Pinned</span>}
        {c.held && (
          <span class="badge held-badge">
            Held for review
            {c.held_reason && (viewer.owner || viewer.staff) ? `: ${HELD_REASON[c.held_reason] ?? c.held_reason}` : ''}
          </span>
        )}
      </p>
      {mode === 'edit' ? (
        <Composer
          label="Edit your comment"
          submit="Save"
          initial={c.text ?? ''}
          onCancel={() => setMode('none')}
          onSend={async (text) => {
            const next = await edit(video, c.id, text);
            setMode('none');
            onChange(next);
          }}
        />
      ) : c.deleted ? (
        <p class="comment-text muted">This comment was deleted.</p>
      ) : (
        <CommentText c={c} />
      )}
      {!c.deleted && mode !== 'edit' && (
        <div class="comment-actions" role="group" aria-label={`Actions on the ${label.toLowerCase()}`}>
          {signedIn && viewer.open && !c.held && (
            <button type="button" class="link" aria-expanded={mode === 'reply'} onClick={() => setMode(mode === 'reply' ? 'none' : 'reply')}>
              Reply
            </button>
          )}
          {mine && (
            <button type="button" class="link" onClick={() => setMode('edit')}>
              Edit
            </button>
          )}
          {viewer.owner && topLevel && !c.held && (
            <button type="button" class="link" disabled={!!busy} onClick={() => void act('pin', async () => (await pin(video, c.id, !c.pinned), { ...c, pinned: !c.pinned }))}>
              {c.pinned ? 'Unpin' : 'Pin'}
            </button>
          )}
          {(mine || viewer.owner || viewer.staff) && (
            <button type="button" class="link" aria-expanded={mode === 'delete'} onClick={() => setMode(mode === 'delete' ? 'none' : 'delete')}>
              Delete
            </button>
          )}
          {signedIn && !mine && (
            <button type="button" class="link" onClick={() => setMode('report')}>
              Report
            </button>
          )}
          {signedIn && !mine && c.author && onMute && (
            <button type="button" class="link" onClick={() => c.author && onMute(c.author)}>
              Mute {name}
            </button>
          )}
        </div>
      )}
      {c.held && (viewer.owner || viewer.staff) && !c.deleted && (
        <div class="review actions" role="group" aria-label="Review">
          <button type="button" disabled={!!busy} onClick={() => void act('approve', async () => (await approve(video, c.id), { ...c, held: false, held_reason: null }))}>
            Approve
          </button>
          <button type="button" class="secondary" disabled={!!busy} onClick={() => void act('reject', async () => (await reject(video, c.id, false), gone()))}>
            Reject
          </button>
          <button type="button" class="danger" disabled={!!busy} aria-expanded={mode === 'ban'} onClick={() => setMode(mode === 'ban' ? 'none' : 'ban')}>
            Reject and ban
          </button>
        </div>
      )}
      {mode === 'ban' && (
        <form
          class="inline-form confirm"
          aria-label="Reject and ban"
          onSubmit={(e) => {
            e.preventDefault();
            void act('ban', async () => (await reject(video, c.id, true, banReason.trim()), gone()));
          }}
        >
          <div class="field">
            <label for={`ban-${c.id}`}>Why (the audit log keeps it)</label>
            <input id={`ban-${c.id}`} maxLength={500} value={banReason} dir="auto" onInput={(e) => setBanReason(e.currentTarget.value)} />
          </div>
          <p class="small">{name} will no longer be able to comment on this channel.</p>
          <div class="actions">
            <button type="submit" class="danger" disabled={!!busy}>
              Reject and ban {name}
            </button>
            <button type="button" class="secondary" onClick={() => setMode('none')}>
              Cancel
            </button>
          </div>
        </form>
      )}
      {mode === 'delete' && (
        <div class="actions confirm" role="group" aria-label="Confirm delete">
          <span>Delete this comment?</span>
          <button type="button" class="danger" disabled={!!busy} onClick={() => void act('delete', async () => (await remove(video, c.id), gone()))}>
            Yes, delete
          </button>
          <button type="button" class="secondary" onClick={() => setMode('none')}>
            Cancel
          </button>
        </div>
      )}
      <Status error={error} busy={busy ? 'Working…' : null} />
      {mode === 'reply' && (
        <Composer
          label={`Reply to ${name}`}
          submit="Reply"
          autoFocus
          onCancel={() => setMode('none')}
          onSend={async (text) => {
            const r = await post(video, text, c.id);
            setMode('none');
            onReplied(r);
          }}
        />
      )}
      {mode === 'report' && (
        <ReportDialog target={{ comment: { video_id: video, id: c.id } }} what={`the comment by ${name}`} onClose={() => setMode('none')} />
      )}
      {children}
    </article>
  );
}
