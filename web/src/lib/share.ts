// Links and snippets for sharing a video: its watch page, the same at a time (`?t=`), and the
// /embed player as an <iframe> for other sites.

/** The watch page of `id` on this site, at `secs` (whole seconds) when given. */
export function watchLink(origin: string, id: string, secs?: number | null): string {
  const url = `${origin}/watch/${encodeURIComponent(id)}`;
  const t = secs == null ? 0 : Math.floor(secs);
  return t > 0 ? `${url}?t=${t}` : url;
}

/** `s` safe inside a double-quoted HTML attribute. */
export function escapeAttr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The HTML another site pastes to show the /embed player. The title is escaped: the snippet is
 * markup, and a video's title is whatever its owner typed. */
export function embedSnippet(origin: string, video: { id: string; title: string }): string {
  const src = `${origin}/embed/${encodeURIComponent(video.id)}`;
  return (
    `<iframe src="${escapeAttr(src)}" width="640" height="360" title="${escapeAttr(video.title)}" ` +
    `allow="autoplay; fullscreen; picture-in-picture" allowfullscreen></iframe>`
  );
}

/** A link's start time: `?t=95`, `?t=95s`, `?t=1m35s` or `?t=1h2m3s`; null when absent or not one. */
export function parseStart(t: string | null): number | null {
  if (!t) return null;
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?$/.exec(t.trim());
  if (!m || (!m[1] && !m[2] && !m[3])) return null;
  const secs = Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
  return secs > 0 && Number.isFinite(secs) ? secs : null;
}

/** Copies `text`; whether it worked. The async clipboard where the page may use it, else the
 * selection of a hidden field (older browsers, or a page without the permission). */
export async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.style.position = 'fixed';
    area.style.opacity = '0';
    // Inside an open modal dialog, the rest of the page is inert: the field goes in the dialog.
    (document.activeElement?.closest('dialog') ?? document.body).append(area);
    area.select();
    let done = false;
    try {
      done = document.execCommand('copy');
    } catch {
      done = false;
    }
    area.remove();
    return done;
  }
}
