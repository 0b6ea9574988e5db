import { useEffect, useState } from 'preact/hooks';
import { toProblem, type ApiProblem, type Channel, type CommentPolicy } from '../../api/client';
import { Avatar } from '../../components/Avatar';
import { Dialog } from '../../components/Dialog';
import { Status } from '../../components/Status';
import { subscribers } from '../../components/SubscribeButton';
import { CommentPolicyField } from '../../components/VideoFields';
import { CommentsDialog } from './CommentsDialog';
import { createChannel, deleteChannel, myChannels, removeAvatar, updateChannel, uploadAvatar } from './data';

const HANDLE = /^[a-z0-9_.]{3,32}$/;

function CreateForm({ onCreated }: { onCreated: (c: Channel) => void }) {
  const [handle, setHandle] = useState('');
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiProblem | null>(null);
  const bad = handle !== '' && !HANDLE.test(handle);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const c = await createChannel({ handle, display_name: name.trim() || undefined, description: description || undefined });
      setHandle('');
      setName('');
      setDescription('');
      onCreated(c);
    } catch (err) {
      setError(toProblem(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="stack panel" aria-labelledby="new-channel-h" onSubmit={(e) => void submit(e)}>
      <h2 id="new-channel-h">New channel</h2>
      <div class="field">
        <label for="c-handle">Handle</label>
        <input
          id="c-handle"
          required
          value={handle}
          pattern="[a-z0-9_.]{3,32}"
          aria-invalid={bad}
          aria-describedby="c-handle-hint"
          autocomplete="off"
          spellcheck={false}
          onInput={(e) => setHandle(e.currentTarget.value)}
        />
        <p id="c-handle-hint" class="muted small">
          3 to 32 of a–z, 0–9, _ and . — it is the channel’s address (/c/handle) and never changes.
        </p>
      </div>
      <div class="field">
        <label for="c-name">Display name</label>
        <input id="c-name" maxLength={100} value={name} dir="auto" onInput={(e) => setName(e.currentTarget.value)} />
      </div>
      <div class="field">
        <label for="c-desc">Description</label>
        <textarea id="c-desc" rows={3} maxLength={5000} value={description} dir="auto" onInput={(e) => setDescription(e.currentTarget.value)} />
      </div>
      <Status error={error} busy={busy ? 'Creating the channel…' : null} />
      <div class="actions">
        <button type="submit" disabled={busy}>
          Create channel
        </button>
      </div>
    </form>
  );
}

function EditDialog({
  channel,
  onSaved,
  onAvatar,
  onClose,
}: {
  channel: Channel;
  onSaved: (c: Channel) => void;
  onAvatar: (c: Channel) => void;
  onClose: () => void;
}) {
  const [name, setName] = useState(channel.display_name);
  const [description, setDescription] = useState(channel.description);
  const [policy, setPolicy] = useState<CommentPolicy>(channel.default_comment_policy ?? 'enabled');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiProblem | null>(null);
  // The avatar is saved at once (an upload is its own request); the dialog shows the new one.
  const [avatarOf, setAvatarOf] = useState<Channel>(channel);
  const changeAvatar = async (change: () => Promise<Channel>) => {
    setBusy(true);
    setError(null);
    try {
      const next = await change();
      setAvatarOf(next);
      onAvatar(next);
    } catch (err) {
      setError(toProblem(err));
    } finally {
      setBusy(false);
    }
  };
  const save = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSaved(await updateChannel(channel.handle, { display_name: name.trim(), description, default_comment_policy: policy }));
    } catch (err) {
      setError(toProblem(err));
      setBusy(false);
    }
  };
  return (
    <Dialog open title={`Edit @${channel.handle}`} onClose={onClose}>
      <form class="stack" onSubmit={(e) => void save(e)}>
        <div class="field">
          <label for="ce-name">Display name</label>
          <input id="ce-name" required maxLength={100} value={name} dir="auto" onInput={(e) => setName(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="ce-desc">Description</label>
          <textarea id="ce-desc" rows={4} maxLength={5000} value={description} dir="auto" onInput={(e) => setDescription(e.currentTarget.value)} />
        </div>
        <CommentPolicyField id="ce-comments" label="Comments on new videos" value={policy} onChange={setPolicy} />
        <fieldset class="field">
          <legend>Avatar</legend>
          <Avatar channel={avatarOf} size="large" />
          <label for="ce-avatar">Upload an image</label>
          <input
            id="ce-avatar"
            type="file"
            accept="image/*"
            disabled={busy}
            onChange={(e) => {
              const file = e.currentTarget.files?.[0];
              if (file) void changeAvatar(() => uploadAvatar(channel.handle, file));
            }}
          />
          {avatarOf.avatar && (
            <button type="button" class="secondary" disabled={busy} onClick={() => void changeAvatar(async () => {
              await removeAvatar(channel.handle);
              return { ...avatarOf, avatar: null };
            })}>
              Remove avatar
            </button>
          )}
        </fieldset>
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

function Row({ channel, onChange }: { channel: Channel; onChange: (c: Channel | null) => void }) {
  const [editing, setEditing] = useState(false);
  const [moderating, setModerating] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiProblem | null>(null);
  const titleId = `ch-${channel.id}`;
  const remove = async () => {
    setBusy(true);
    setError(null);
    try {
      await deleteChannel(channel.handle);
      onChange(null);
    } catch (e) {
      setError(toProblem(e));
      setBusy(false);
    }
  };
  return (
    <li class="row" aria-labelledby={titleId}>
      <div class="row-avatar">
        <Avatar channel={channel} size="small" />
      </div>
      <div class="row-body">
        <h2 class="row-title" id={titleId}>
          <a href={`/c/${encodeURIComponent(channel.handle)}`} dir="auto">
            {channel.display_name}
          </a>
        </h2>
        <p class="muted small">
          <span dir="auto">@{channel.handle}</span> · {subscribers(channel.subscribers)} · {channel.videos} {channel.videos === 1 ? 'video' : 'videos'}
          {channel.default && ' · default channel'}
        </p>
        {channel.description && (
          <p class="row-description" dir="auto">
            {channel.description}
          </p>
        )}
        <Status error={error} busy={busy ? 'Deleting…' : null} />
        <div class="actions">
          <button type="button" class="secondary" onClick={() => setEditing(true)} aria-label={`Edit ${channel.display_name}`}>
            Edit
          </button>
          <button type="button" class="secondary" onClick={() => setModerating(true)} aria-label={`Comment moderation for ${channel.display_name}`}>
            Comment moderation
          </button>
          {!channel.default && (
            <button type="button" class="danger" disabled={busy} onClick={() => void remove()} aria-label={`Delete ${channel.display_name}`}>
              Delete
            </button>
          )}
        </div>
      </div>
      {moderating && <CommentsDialog channel={channel} onClose={() => setModerating(false)} />}
      {editing && (
        <EditDialog
          channel={channel}
          onClose={() => setEditing(false)}
          onAvatar={(c) => onChange(c)}
          onSaved={(c) => {
            setEditing(false);
            onChange(c);
          }}
        />
      )}
    </li>
  );
}

export default function MyChannelsPage() {
  const [channels, setChannels] = useState<Channel[] | null>(null);
  const [error, setError] = useState<ApiProblem | null>(null);
  useEffect(() => {
    myChannels()
      .then(setChannels)
      .catch((e: unknown) => setError(toProblem(e)));
  }, []);
  const replace = (id: string, next: Channel | null) =>
    setChannels((cs) => (cs ?? []).flatMap((c) => (c.id === id ? (next ? [next] : []) : [c])));
  return (
    <>
      <h1>My channels</h1>
      <Status busy={!channels && !error ? 'Loading your channels…' : null} error={error} />
      {channels && (
        <ul class="rows" aria-label="My channels">
          {channels.map((c) => (
            <Row key={c.id} channel={c} onChange={(next) => replace(c.id, next)} />
          ))}
        </ul>
      )}
      <CreateForm onCreated={(c) => setChannels((cs) => [...(cs ?? []), c])} />
    </>
  );
}
