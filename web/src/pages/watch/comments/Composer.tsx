import { useEffect, useRef, useState } from 'preact/hooks';
import { toProblem, type ApiProblem } from '../../../api/client';
import { Status } from '../../../components/Status';

/** The longest comment the server takes (in characters). */
export const MAX_COMMENT = 10000;

/** A text box and its button, for a new comment, a reply or an edit. The server's answer to a
 * refusal (too long, too fast, the same text twice, comments off) shows beside it. */
export function Composer({
  label,
  submit,
  initial = '',
  autoFocus,
  note,
  onSend,
  onCancel,
}: {
  label: string;
  submit: string;
  initial?: string;
  autoFocus?: boolean;
  note?: string | null;
  onSend: (text: string) => Promise<void>;
  onCancel?: () => void;
}) {
  const [text, setText] = useState(initial);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiProblem | null>(null);
  const ref = useRef<HTMLTextAreaElement>(null);
  const id = useRef(`cc-${Math.random().toString(36).slice(2)}`).current;
  useEffect(() => {
    if (autoFocus) ref.current?.focus();
  }, []);
  const send = async (e: Event) => {
    e.preventDefault();
    if (!text.trim()) return;
    setBusy(true);
    setError(null);
    try {
      await onSend(text);
      setText('');
    } catch (err) {
      setError(toProblem(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="composer stack" onSubmit={(e) => void send(e)}>
      <div class="field">
        <label for={id}>{label}</label>
        <textarea
          id={id}
          ref={ref}
          rows={3}
          required
          maxLength={MAX_COMMENT}
          value={text}
          dir="auto"
          onInput={(e) => setText(e.currentTarget.value)}
        />
        {note && <p class="muted small">{note}</p>}
      </div>
      <Status error={error} busy={busy ? 'Sending…' : null} />
      <div class="actions">
        <button type="submit" disabled={busy || !text.trim()}>
          {submit}
        </button>
        {onCancel && (
          <button type="button" class="secondary" disabled={busy} onClick={onCancel}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}
