// The embed player (/embed/{video_id}, served as embed.html): an anonymous session, hls.js,
// minimal chrome and a link to the full page. Other sites may frame it. No framework: the DOM
// is built with textContent only.

import '../styles.css';
import { Playback } from '../player/playback';
import { bindKeys } from '../player/keys';
import type { ApiProblem } from '../api/client';

const root = document.getElementById('embed') as HTMLElement;
const id = decodeURIComponent(location.pathname.replace(/\/+$/, '').split('/').pop() ?? '');

function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, text?: string) {
  const e = Object.assign(document.createElement(tag), props);
  if (text !== undefined) e.textContent = text;
  return e;
}

function message(text: string): void {
  const p = el('p', { className: 'embed-message' }, text);
  p.setAttribute('role', 'alert');
  root.append(p);
}

const link = el('a', { href: `/watch/${encodeURIComponent(id)}`, target: '_blank', rel: 'noopener noreferrer', className: 'embed-link' }, 'Watch on troupe');

if (!/^[0-9a-fA-F-]{36}$/.test(id)) {
  message('This player has no video to play.');
} else {
  const video = el('video', { controls: true, playsInline: true, preload: 'auto' });
  video.setAttribute('aria-label', 'Video');
  const bar = el('div', { className: 'embed-bar' });
  bar.append(link);
  root.append(video, bar);
  const fail = (p: ApiProblem) => {
    if (p.status === 404) message('This video is not available: it is private, or it was deleted.');
    else if (p.status === 401) message('This video needs an account to play. Use the link to watch it on troupe.');
    else message(p.detail);
  };
  const playback = new Playback(video, id, {
    onError: fail,
    onLimit: (p) => message(p.detail),
    onEnded: (why) => message(why),
    onGrant: () => undefined,
  });
  bindKeys(video, root);
  void playback.start();
}
