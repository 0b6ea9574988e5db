import { useEffect, useState } from 'preact/hooks';
import type { Channel, Visibility } from '../../api/client';
import { Status } from '../../components/Status';
import { STATE_LABEL, bytes } from '../../lib/format';
import type { PageProps } from '../../routes';
import { VisibilityField, splitTags } from '../../components/VideoFields';
import { channels, create, current, pause, pick, reset, resume, retryProcessing, serverMaxSize, subscribe, suggestTitle, type Job } from './uploads';

function useJob(): Job {
  const [j, setJ] = useState(current());
  useEffect(() => subscribe(setJ), []);
  return j;
}

function Picker({ forVideo, max }: { forVideo: string | null; max: number | null }) {
  const [over, setOver] = useState(false);
  const take = (files: FileList | null | undefined) => {
    const f = files?.[0];
    if (f) void pick(f, forVideo);
  };
  return (
    <div
      class={over ? 'dropzone over' : 'dropzone'}
      onDragOver={(e) => {
        e.preventDefault();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={(e) => {
        e.preventDefault();
        setOver(false);
        take(e.dataTransfer?.files);
      }}
    >
      <p>Drop a video file here, or</p>
      <label for="file" class="button">
        Choose a video file
      </label>
      <input
        id="file"
        type="file"
        accept="video/*,.mkv,.mov,.mp4,.webm,.avi"
        onChange={(e) => {
          const input = e.currentTarget;
          take(input.files);
          input.value = '';
        }}
      />
      {max !== null && <p class="muted small">Files up to {bytes(max)}.</p>}
    </div>
  );
}

/** Which of the user's channels the video goes to; none shown when they have only one. */
function ChannelField({ value, onChange }: { value: string; onChange: (handle: string) => void }) {
  const [list, setList] = useState<Channel[] | null>(null);
  useEffect(() => {
    let live = true;
    channels()
      .then((cs) => {
        if (!live) return;
        setList(cs);
        const first = cs.find((c) => c.default) ?? cs[0];
        if (first && !value) onChange(first.handle);
      })
      .catch(() => live && setList([]));
    return () => {
      live = false;
    };
  }, []);
  if (!list || list.length < 2) return null;
  return (
    <div class="field">
      <label for="u-channel">Channel</label>
      <select id="u-channel" value={value} onChange={(e) => onChange(e.currentTarget.value)}>
        {list.map((c) => (
          <option key={c.id} value={c.handle}>
            {`${c.display_name} (@${c.handle})`}
          </option>
        ))}
      </select>
    </div>
  );
}

function DetailsForm({ job }: { job: Job }) {
  const [title, setTitle] = useState(job.file ? suggestTitle(job.file) : '');
  const [channel, setChannel] = useState('');
  const [description, setDescription] = useState('');
  const [tags, setTags] = useState('');
  const [visibility, setVisibility] = useState<Visibility>('public');
  const busy = job.phase === 'creating';
  return (
    <form
      class="stack"
      onSubmit={(e) => {
        e.preventDefault();
        void create({ title: title.trim(), description, tags: splitTags(tags), visibility, channel: channel || undefined });
      }}
    >
      <h2>Details</h2>
      <p>
        File: <span dir="auto">{job.file?.name}</span> ({bytes(job.total)})
      </p>
      <div class="field">
        <label for="u-title">Title</label>
        <input id="u-title" required maxLength={200} value={title} onInput={(e) => setTitle(e.currentTarget.value)} />
      </div>
      <div class="field">
        <label for="u-desc">Description</label>
        <textarea id="u-desc" rows={4} maxLength={10000} value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
      </div>
      <div class="field">
        <label for="u-tags">Tags</label>
        <input id="u-tags" aria-describedby="u-tags-hint" value={tags} onInput={(e) => setTags(e.currentTarget.value)} />
        <p id="u-tags-hint" class="muted small">
          Separated by commas, up to 16.
        </p>
      </div>
      <ChannelField value={channel} onChange={setChannel} />
      <VisibilityField id="u-vis" value={visibility} onChange={setVisibility} />
      <Status error={job.error} busy={busy ? 'Creating the video…' : null} />
      <div class="actions">
        <button type="submit" disabled={busy}>
          Upload
        </button>
        <button type="button" class="secondary" onClick={reset} disabled={busy}>
          Choose another file
        </button>
      </div>
    </form>
  );
}

function Progress({ job }: { job: Job }) {
  const v = job.video;
  const pct = job.total ? Math.floor((job.sent / job.total) * 100) : 0;
  return (
    <section class="stack" aria-labelledby="progress-h">
      <h2 id="progress-h" dir="auto">
        {v ? v.title : job.file?.name}
      </h2>
      {(job.phase === 'uploading' || job.phase === 'paused') && (
        <>
          <label for="up-progress">Upload</label>
          <progress id="up-progress" max={100} value={pct}>
            {pct}%
          </progress>
          <p role="status" aria-live="polite">
            {job.phase === 'paused' ? 'Paused at ' : 'Uploading: '}
            {bytes(job.sent)} of {bytes(job.total)} ({pct}%)
          </p>
          <div class="actions">
            {job.phase === 'uploading' ? (
              <button type="button" class="secondary" onClick={pause}>
                Pause
              </button>
            ) : (
              job.pausedFor === 'user' && (
                <button type="button" onClick={resume}>
                  Resume
                </button>
              )
            )}
          </div>
        </>
      )}
      {job.resumedAt !== null && job.resumedAt > 0 && (
        <p>
          The upload resumed at {bytes(job.resumedAt)}: the server already had that much.
        </p>
      )}
      {(job.phase === 'processing' || job.phase === 'ready' || job.phase === 'failed') && v && (
        <>
          <label for="proc-progress">Processing</label>
          <progress id="proc-progress" max={100} value={v.state === 'ready' ? 100 : v.progress}>
            {Math.round(v.progress)}%
          </progress>
          <p role="status" aria-live="polite">
            {STATE_LABEL[v.state] ?? v.state}
            {v.state === 'processing' && `: ${Math.round(v.progress)}%`}
          </p>
        </>
      )}
      {job.phase === 'ready' && v && (
        <p>
          Your video is ready. <a href={`/watch/${encodeURIComponent(v.id)}`}>Watch it</a>, or{' '}
          <button type="button" class="link" onClick={reset}>
            upload another
          </button>
          .
        </p>
      )}
      {job.phase === 'failed' && v && (
        <div role="alert" class="problem">
          <p>Processing failed: {v.failure_reason ?? 'no reason given'}</p>
          <button type="button" onClick={() => void retryProcessing()}>
            Retry
          </button>
        </div>
      )}
      <Status error={job.phase === 'failed' || job.phase === 'paused' ? job.error : null} />
      {job.phase === 'paused' && job.pausedFor === 'auth' && <p>Sign in again and the upload continues.</p>}
    </section>
  );
}

export default function UploadPage({ query }: PageProps) {
  const job = useJob();
  const forVideo = query.get('video');
  const [max, setMax] = useState<number | null>(null);
  useEffect(() => {
    void serverMaxSize().then(setMax);
  }, []);
  const showPicker = job.phase === 'idle' || job.phase === 'error' || job.phase === 'checking';
  return (
    <>
      <h1>Upload a video</h1>
      {forVideo && showPicker && <p>Pick the same file again to finish its upload: it continues where it stopped.</p>}
      {showPicker && <Picker forVideo={forVideo} max={max} />}
      {job.phase === 'checking' && <Status busy="Checking the file…" />}
      {job.phase === 'error' && (
        <div class="stack">
          <Status error={job.error} />
          {job.video && (
            <button type="button" onClick={resume}>
              Retry the upload
            </button>
          )}
        </div>
      )}
      {(job.phase === 'details' || job.phase === 'creating') && <DetailsForm job={job} />}
      {['uploading', 'paused', 'processing', 'ready', 'failed'].includes(job.phase) && <Progress job={job} />}
    </>
  );
}
