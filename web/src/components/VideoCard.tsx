import type { ComponentChildren } from 'preact';
import { posterUrl, type Video } from '../api/client';
import { duration, durationWords, views } from '../lib/format';

/** A video in a grid: poster, title, channel (its handle; the owner before channels), duration and views. User text renders as text.
 * `title` replaces the plain title (search highlights); `children` go under the meta line. */
export function VideoCard({ video, extra, title, children }: { video: Video; extra?: string; title?: ComponentChildren; children?: ComponentChildren }) {
  const poster = posterUrl(video);
  const href = `/watch/${encodeURIComponent(video.id)}`;
  return (
    <li class="card">
      <a class="card-link" href={href}>
        <div class="poster">
          {poster ? (
            <img src={poster} alt="" loading="lazy" decoding="async" width={320} height={180} />
          ) : (
            <div class="poster-none" aria-hidden="true">
              ▶
            </div>
          )}
          {video.duration_secs != null && (
            <span class="badge duration">
              <span aria-hidden="true">{duration(video.duration_secs)}</span>
              <span class="sr-only">{durationWords(video.duration_secs)}</span>
            </span>
          )}
        </div>
        <h3 class="card-title" dir="auto">
          {title ?? video.title}
        </h3>
      </a>
      <p class="card-meta">
        {video.channel ? (
          <a href={`/c/${encodeURIComponent(video.channel)}`} dir="auto">
            {video.channel}
          </a>
        ) : (
          <a href={`/search?owner=${encodeURIComponent(video.owner)}`} dir="auto">
            {video.owner}
          </a>
        )}
        <span aria-hidden="true"> · </span>
        <span>{views(video.counts?.views)}</span>
        {extra && (
          <>
            <span aria-hidden="true"> · </span>
            <span>{extra}</span>
          </>
        )}
      </p>
      {children}
    </li>
  );
}

export function VideoGrid({ videos, label, extra }: { videos: Video[]; label: string; extra?: (v: Video) => string | undefined }) {
  return (
    <ul class="grid" aria-label={label}>
      {videos.map((v) => (
        <VideoCard key={v.id} video={v} extra={extra?.(v)} />
      ))}
    </ul>
  );
}
