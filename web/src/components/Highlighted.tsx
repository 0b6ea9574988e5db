import type { Segment } from '../api/client';

/** Search highlights: runs of plain text, the matched ones in <mark>. The text is the video's
 * own, unescaped, so it goes in as JSX children (text nodes), never as markup. */
export function Highlighted({ segments }: { segments: Segment[] }) {
  return <>{segments.map((s, i) => (s.hit ? <mark key={i}>{s.text}</mark> : s.text))}</>;
}
