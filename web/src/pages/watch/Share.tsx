import { useState } from 'preact/hooks';
import type { Video } from '../../api/client';
import { Dialog } from '../../components/Dialog';
import { duration } from '../../lib/format';
import { copyText, embedSnippet, watchLink } from '../../lib/share';

/** A read-only field with a Copy button; says whether it copied, in a live region. */
function CopyField({ id, label, value, multiline }: { id: string; label: string; value: string; multiline?: boolean }) {
  const [said, setSaid] = useState('');
  const copy = async () => {
    setSaid((await copyText(value)) ? 'Copied.' : 'Could not copy: select the text and copy it.');
  };
  const select = (e: Event) => (e.currentTarget as HTMLInputElement | HTMLTextAreaElement).select();
  return (
    <div class="field copy-field">
      <label for={id}>{label}</label>
      <div class="copy-row">
        {multiline ? (
          <textarea id={id} readOnly rows={3} value={value} onFocus={select} spellcheck={false} />
        ) : (
          <input id={id} readOnly value={value} onFocus={select} spellcheck={false} />
        )}
        <button type="button" class="secondary" onClick={() => void copy()} aria-describedby={`${id}-said`}>
          Copy <span class="sr-only">{label.toLowerCase()}</span>
        </button>
      </div>
      <p id={`${id}-said`} class="muted small" role="status">
        {said}
      </p>
    </div>
  );
}

/** Share: the watch link, the link at the time the player is at, and the /embed snippet. */
export function ShareDialog({ video, at, onClose }: { video: Video; at: number; onClose: () => void }) {
  const origin = location.origin;
  const secs = Math.floor(at);
  return (
    <Dialog open title="Share" onClose={onClose}>
      <div class="stack">
        <CopyField id="share-link" label="Link" value={watchLink(origin, video.id)} />
        {secs > 0 && <CopyField id="share-at" label={`Link at ${duration(secs)}`} value={watchLink(origin, video.id, secs)} />}
        {video.visibility !== 'private' ? (
          <CopyField id="share-embed" label="Embed code" value={embedSnippet(origin, video)} multiline />
        ) : (
          <p class="muted">A private video plays for you only: it cannot be embedded on other sites.</p>
        )}
        <div class="actions">
          <button type="button" class="secondary" onClick={onClose}>
            Close
          </button>
        </div>
      </div>
    </Dialog>
  );
}
