import { useEffect, useState } from 'preact/hooks';
import { posterUrl, toProblem, type ApiProblem, type Video, type Visibility } from '../../api/client';
import { Dialog } from '../../components/Dialog';
import { MoreOnScroll } from '../../components/MoreOnScroll';
import { Status } from '../../components/Status';
import { VisibilityField, splitTags } from '../../components/VideoFields';
import { watchVideo } from '../../lib/events';
import { STATE_LABEL, ago, duration, views } from '../../lib/format';
import { usePaged } from '../../lib/paged';
import { me } from '../../session';
import { mine, remove, retry, update } from './data';

const MOVING = new Set(['uploading', 'queued', 'processing']);
/** Live rows at once: each holds an event stream, and a browser allows six connections per host. */
const MAX_LIVE = 3;

function EditDialog({ video, onSaved, onClose }: { video: Video; onSaved: (v: Video) => void; onClose: () => void }) {
  const [title, setTitle] = useState(video.title);
  const [description, setDescription] = useState(video.description);
  const [tags, setTags] = useState(video.tags.join(', '));
  const [visibility, setVisibility] = useState<Visibility>(video.visibility);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiProblem | null>(null);
  const save = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSaved(await update(video.id, { title: title.trim(), description, tags: splitTags(tags), visibility }));
    } catch (err) {
      setError(toProblem(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog open title="Edit video" onClose={onClose}>
      <form class="stack" onSubmit={(e) => void save(e)}>
        <div class="field">
          <label for="e-title">Title</label>
          <input id="e-title" required maxLength={200} value={title} onInput={(e) => setTitle(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="e-desc">Description</label>
          <textarea id="e-desc" rows={4} maxLength={10000} value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="e-tags">Tags (separated by commas)</label>
          <input id="e-tags" value={tags} onInput={(e) => setTags(e.currentTarget.value)} />
        </div>
        <VisibilityField id="e-vis" value={visibility} onChange={setVisibility} />
        <Status error={error} busy={busy ? 'Saving…' : null} />
        <div class="actions">
          <button type="submit" disabled={busy}>
            Save
          </button>
          <button type="button" class="secondary" onClick={onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function DeleteDialog({ video, onDeleted, onClose }: { video: Video; onDeleted: () => void; onClose: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiProblem | null>(null);
  const go = async () => {
    setBusy(true);
    setError(null);
    try {
      await remove(video.id);
      onDeleted();
    } catch (e) {
      setError(toProblem(e));
      setBusy(false);
    }
  };
  return (
    <Dialog open title="Delete this video?" onClose={onClose}>
      <p>
        “<span dir="auto">{video.title}</span>” and all its files will be deleted. This cannot be undone.
      </p>
      <Status error={error} busy={busy ? 'Deleting…' : null} />
      <div class="actions">
        <button type="button" class="danger" disabled={busy} onClick={() => void go()}>
          Delete
        </button>
        <button type="button" class="secondary" onClick={onClose}>
          Cancel
        </button>
      </div>
    </Dialog>
  );
}

function Row({ video, live, onChange }: { video: Video; live: boolean; onChange: (v: Video | null) => void }) {
  const [v, setV] = useState(video);
  const [dialog, setDialog] = useState<'edit' | 'delete' | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiProblem | null>(null);
  useEffect(() => setV(video), [video]);
  const moving = MOVING.has(v.state);
  useEffect(() => {
    if (!live || !moving) return;
    return watchVideo(v.id, { video: (nv) => setV((old) => (old.version > nv.version ? old : nv)) });
  }, [live, moving, v.id]);

  const doRetry = async () => {
    setBusy(true);
    setError(null);
    try {
      const nv = await retry(v.id);
      setV(nv);
      // The list decides which rows follow their events: it must know the video moves again.
      onChange(nv);
    } catch (e) {
      setError(toProblem(e));
    } finally {
      setBusy(false);
    }
  };
  const poster = posterUrl(v);
  const titleId = `mv-${v.id}`;
  return (
    <li class="row" aria-labelledby={titleId}>
      <div class="row-poster">
        {poster ? <img src={poster} alt="" loading="lazy" width={160} height={90} /> : <div class="poster-none" aria-hidden="true" />}
      </div>
      <div class="row-body">
        <h2 class="row-title" id={titleId} dir="auto">
          {v.state === 'ready' ? <a href={`/watch/${encodeURIComponent(v.id)}`}>{v.title}</a> : v.title}
        </h2>
        <p class="muted small">
          <span class={`state state-${v.state}`}>{STATE_LABEL[v.state] ?? v.state}</span> · {v.visibility} · {views(v.counts?.views)}
          {v.duration_secs != null && ` · ${duration(v.duration_secs)}`} · created {ago(v.created_at)}
        </p>
        {moving && (
          <progress max={100} value={v.progress} aria-label={`Processing progress of ${v.title}`}>
            {Math.round(v.progress)}%
          </progress>
        )}
        {v.state === 'failed' && (
          <p class="problem">
            Failed: <span dir="auto">{v.failure_reason ?? 'no reason given'}</span>
          </p>
        )}
        <Status error={error} busy={busy ? 'Requeuing…' : null} />
        <div class="actions">
          <button type="button" class="secondary" onClick={() => setDialog('edit')} aria-label={`Edit ${v.title}`}>
            Edit
          </button>
          {v.state === 'failed' && (
            <button type="button" disabled={busy} onClick={() => void doRetry()} aria-label={`Retry ${v.title}`}>
              Retry
            </button>
          )}
          {(v.state === 'awaiting_upload' || v.state === 'uploading') && (
            <a class="button secondary" href={`/upload?video=${encodeURIComponent(v.id)}`}>
              Finish the upload
            </a>
          )}
          <button type="button" class="danger" onClick={() => setDialog('delete')} aria-label={`Delete ${v.title}`}>
            Delete
          </button>
        </div>
      </div>
      {dialog === 'edit' && (
        <EditDialog
          video={v}
          onClose={() => setDialog(null)}
          onSaved={(nv) => {
            setV(nv);
            onChange(nv);
            setDialog(null);
          }}
        />
      )}
      {dialog === 'delete' && <DeleteDialog video={v} onClose={() => setDialog(null)} onDeleted={() => onChange(null)} />}
    </li>
  );
}

export default function MyVideosPage() {
  const who = me();
  const owner = who?.username ?? '';
  const list = usePaged((cursor) => mine(owner, cursor), [owner]);
  let live = 0;
  return (
    <>
      <div class="section-head">
        <h1>My videos</h1>
        <a class="button" href="/upload">
          Upload
        </a>
      </div>
      {list.done && !list.error && list.items.length === 0 && (
        <p>
          You have no videos yet. <a href="/upload">Upload one</a>.
        </p>
      )}
      <ul class="rows" aria-label="My videos">
        {list.items.map((v) => {
          const isLive = MOVING.has(v.state) && live++ < MAX_LIVE;
          return <Row key={v.id} video={v} live={isLive} onChange={(nv) => list.update((x) => x.id === v.id, nv)} />;
        })}
      </ul>
      <MoreOnScroll list={list} what="videos" />
    </>
  );
}
