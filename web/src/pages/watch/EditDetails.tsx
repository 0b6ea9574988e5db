import { useState } from 'preact/hooks';
import { toProblem, type ApiProblem, type CommentPolicy, type Video, type Visibility } from '../../api/client';
import { Status } from '../../components/Status';
import { CommentPolicyField, VisibilityField } from '../../components/VideoFields';
import { saveDetails } from './data';

/** The owner's form in place of the title and description: title, description, visibility,
 * and who may comment. */
export function EditDetails({ video, onSaved, onCancel }: { video: Video; onSaved: (v: Video) => void; onCancel: () => void }) {
  const [title, setTitle] = useState(video.title);
  const [description, setDescription] = useState(video.description);
  const [visibility, setVisibility] = useState<Visibility>(video.visibility);
  const [policy, setPolicy] = useState<CommentPolicy>(video.comment_policy ?? 'enabled');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiProblem | null>(null);
  const save = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSaved(await saveDetails(video.id, { title: title.trim(), description, visibility, comment_policy: policy }));
    } catch (err) {
      setError(toProblem(err));
      setBusy(false);
    }
  };
  return (
    <form class="stack edit-details" aria-label="Edit details" onSubmit={(e) => void save(e)}>
      <h1 class="sr-only">Edit details</h1>
      <div class="field">
        <label for="w-title">Title</label>
        <input id="w-title" required maxLength={200} value={title} onInput={(e) => setTitle(e.currentTarget.value)} dir="auto" />
      </div>
      <div class="field">
        <label for="w-desc">Description</label>
        <textarea id="w-desc" rows={5} maxLength={10000} value={description} onInput={(e) => setDescription(e.currentTarget.value)} dir="auto" />
      </div>
      <VisibilityField id="w-vis" value={visibility} onChange={setVisibility} />
      <CommentPolicyField id="w-comments" value={policy} onChange={setPolicy} />
      <Status error={error} busy={busy ? 'Saving…' : null} />
      <div class="actions">
        <button type="submit" disabled={busy}>
          Save
        </button>
        <button type="button" class="secondary" disabled={busy} onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
