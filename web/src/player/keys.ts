// Keyboard controls for a player: space or k play/pause, arrows seek, f fullscreen, m mute.
// Keys typed into a form field, or pressed on a button or link, stay theirs.

export function bindKeys(video: HTMLVideoElement, box: HTMLElement | null): () => void {
  const onKey = (e: KeyboardEvent) => {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target as HTMLElement | null;
    if (t && t !== video && t.closest('input, textarea, select, button, a, [contenteditable], dialog')) return;
    if (document.querySelector('dialog[open]')) return;
    const seek = (by: number) => {
      const d = Number.isFinite(video.duration) ? video.duration : Infinity;
      video.currentTime = Math.max(0, Math.min(video.currentTime + by, d));
    };
    switch (e.key) {
      case ' ':
      case 'k':
      case 'K':
        if (video.paused) void video.play().catch(() => undefined);
        else video.pause();
        break;
      case 'ArrowLeft':
        seek(-5);
        break;
      case 'ArrowRight':
        seek(5);
        break;
      case 'j':
        seek(-10);
        break;
      case 'l':
        seek(10);
        break;
      case 'f':
      case 'F':
        if (document.fullscreenElement) void document.exitFullscreen().catch(() => undefined);
        else void (box ?? video).requestFullscreen?.().catch(() => undefined);
        break;
      case 'm':
      case 'M':
        video.muted = !video.muted;
        break;
      default:
        return;
    }
    e.preventDefault();
  };
  document.addEventListener('keydown', onKey);
  return () => document.removeEventListener('keydown', onKey);
}
