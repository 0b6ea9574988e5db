// Text people typed, shown safely. Preact renders strings as text nodes, so markup never runs;
// what is left are the invisible characters that change how text around them reads.

/** Bidirectional embeddings, overrides and isolates (U+202A–202E, U+2066–2069), the marks
 * (U+200E, U+200F, U+061C), zero-width characters (U+200B–200D, U+2060–2064, U+FEFF) and the
 * Mongolian vowel separator (U+180E). */
const INVISIBLE = /[\u202A-\u202E\u2066-\u2069\u200B-\u200F\u061C\u2060-\u2064\uFEFF\u180E]/g;

/** A username with direction overrides and zero-width tricks taken out, so "admin\u202Egnp.exe"
 * or "ad\u200Bmin" cannot pass for someone else beside a comment. */
export function plainName(name: string): string {
  return name.replace(INVISIBLE, '');
}

/** Whether a URL may be an <a href>: http and https only. */
export function safeHref(url: string): string | null {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch {
    return null;
  }
}

export interface Span {
  start: number;
  end: number;
}

/** Cuts `text` at the given spans (UTF-16 offsets, as JavaScript indexes strings): plain text
 * between them, the spans themselves handed to `render`. Spans out of range or overlapping an
 * earlier one are left as text. */
export function splitAt<S extends Span, R>(text: string, spans: S[], render: (s: S, part: string, i: number) => R): (string | R)[] {
  const out: (string | R)[] = [];
  let at = 0;
  const sorted = [...spans].sort((a, b) => a.start - b.start);
  sorted.forEach((s, i) => {
    if (!Number.isInteger(s.start) || !Number.isInteger(s.end) || s.start < at || s.end <= s.start || s.end > text.length) return;
    if (s.start > at) out.push(text.slice(at, s.start));
    out.push(render(s, text.slice(s.start, s.end), i));
    at = s.end;
  });
  if (at < text.length) out.push(text.slice(at));
  return out;
}
