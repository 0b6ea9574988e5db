import type { Channel } from '../api/client';

/** A channel's avatar (decorative: its name is always shown beside it), or its initial. */
export function Avatar({ channel, size }: { channel: Pick<Channel, 'avatar' | 'display_name' | 'handle'>; size: 'small' | 'large' }) {
  const px = size === 'small' ? 48 : 128;
  const url = channel.avatar?.[size];
  // Only our own API's paths.
  if (url && url.startsWith('/api/')) return <img class={`avatar avatar-${size}`} src={url} alt="" width={px} height={px} />;
  const initial = Array.from(channel.display_name.trim() || channel.handle)[0]?.toUpperCase() ?? '?';
  return (
    <span class={`avatar avatar-${size} avatar-none`} aria-hidden="true">
      {initial}
    </span>
  );
}
