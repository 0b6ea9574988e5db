import { COMMENT_POLICIES, type CommentPolicy, type Visibility } from '../api/client';

export const VISIBILITIES: { value: Visibility; label: string }[] = [
  { value: 'public', label: 'Public: listed for everyone' },
  { value: 'unlisted', label: 'Unlisted: anyone with the link' },
  { value: 'private', label: 'Private: only you' },
];

/** A video's editable metadata. */
export interface Details {
  title: string;
  description: string;
  tags: string[];
  visibility: Visibility;
}

/** "a, b ,, c" → ["a", "b", "c"] (at most 16, as the API allows). */
export function splitTags(s: string): string[] {
  return s
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean)
    .slice(0, 16);
}

export function VisibilityField({ id, value, onChange }: { id: string; value: Visibility; onChange: (v: Visibility) => void }) {
  return (
    <div class="field">
      <label for={id}>Visibility</label>
      <select id={id} value={value} onChange={(e) => onChange(e.currentTarget.value as Visibility)}>
        {VISIBILITIES.map((v) => (
          <option key={v.value} value={v.value}>
            {v.label}
          </option>
        ))}
      </select>
    </div>
  );
}

/** Who may comment: on, held for approval, off (a video's, or a channel's default). */
export function CommentPolicyField({
  id,
  value,
  onChange,
  label = 'Comments',
}: {
  id: string;
  value: CommentPolicy;
  onChange: (v: CommentPolicy) => void;
  label?: string;
}) {
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.currentTarget.value as CommentPolicy)}>
        {COMMENT_POLICIES.map((p) => (
          <option key={p.value} value={p.value}>
            {p.label}
          </option>
        ))}
      </select>
    </div>
  );
}
