// One playback session of one video in one <video>: starts the session (signed in or
// anonymous), plays its master playlist, resumes at the saved position, sends heartbeats at the
// interval the session gives, and ends the session when the page leaves.
//
// The master playlist URL carries a media token: it goes to the player only. It is never logged,
// never put in the address bar or history, and requests run under `Referrer-Policy: no-referrer`
// (index.html and embed.html say so, the server says so on /hls).

import { ApiProblem, api, apiFetch, deviceId, ok, problemOf, toProblem, type SessionGrant } from '../api/client';
import type { LimitProblem } from '../api/pending';
import { attach, type Engine, type Level } from './engine';

export interface PlaybackHooks {
  onGrant?(grant: SessionGrant): void;
  onLevels?(levels: Level[]): void;
  /** 429 `concurrent_limit_exceeded`: the live devices and what to do. */
  onLimit?(problem: LimitProblem): void;
  onError?(problem: ApiProblem): void;
  /** The session ended elsewhere (another device ended it, or it expired). */
  onEnded?(why: string): void;
}

export class Playback {
  private engine: Engine | null = null;
  private grant: SessionGrant | null = null;
  private timer: ReturnType<typeof setInterval> | undefined;
  private stopped = false;
  private serverDuration: number | null = null;
  private readonly onPageHide = () => this.stop(true);

  constructor(
    private readonly video: HTMLVideoElement,
    private readonly videoId: string,
    private readonly hooks: PlaybackHooks,
    private readonly opts: {
      durationSecs?: number | null;
      autoplay?: boolean;
      /** Start here (seconds; a shared link's `?t=`) instead of where this viewer stopped. */
      startAt?: number | null;
    } = {},
  ) {}

  async start(): Promise<void> {
    this.stopped = false;
    this.serverDuration = this.opts.durationSecs ?? this.serverDuration;
    let grant: SessionGrant;
    try {
      const r = await api.POST('/api/v1/playback/sessions', {
        body: { video_id: this.videoId, device_id: deviceId() },
      });
      if (r.response.status === 429) {
        const body = r.error as unknown as LimitProblem | undefined;
        if (body && body.code === 'concurrent_limit_exceeded') {
          this.hooks.onLimit?.(body);
          return;
        }
      }
      grant = ok(r);
    } catch (e) {
      this.hooks.onError?.(toProblem(e));
      return;
    }
    if (this.stopped) {
      void this.end(grant.session_id, false);
      return;
    }
    this.grant = grant;
    this.hooks.onGrant?.(grant);
    addEventListener('pagehide', this.onPageHide);

    const dur = this.opts.durationSecs ?? 0;
    const asked = this.opts.startAt ?? 0;
    // A time the link asked for; else resume where this viewer stopped, unless that was the
    // very end.
    const startAt =
      asked > 0 && (!dur || asked < dur)
        ? asked
        : grant.resume_position > 1 && (!dur || grant.resume_position < dur - 3)
          ? grant.resume_position
          : 0;
    try {
      this.engine = await attach(this.video, grant.master_url, startAt, {
        onLevels: (levels) => this.hooks.onLevels?.(levels),
        onFatal: (what, status) => {
          if (status === 401 || status === 403 || status === 404) void this.restart();
          else this.hooks.onError?.(new ApiProblem(0, null, `playback failed: ${what}`));
        },
      });
    } catch (e) {
      this.hooks.onError?.(toProblem(e));
      return;
    }
    if (this.stopped) {
      this.engine.destroy();
      return;
    }
    if (this.opts.autoplay !== false) {
      this.video.play().catch(() => {
        /* autoplay refused: the controls are there */
      });
    }
    const every = Math.max(1, grant.heartbeat_interval_secs) * 1000;
    this.timer = setInterval(() => void this.heartbeat(), every);
    this.video.addEventListener('pause', this.beat);
    this.video.addEventListener('ended', this.beat);
  }

  private readonly beat = () => void this.heartbeat();

  private position(): number {
    const t = this.video.currentTime;
    const known = this.serverDuration ?? Infinity;
    const d = Math.min(Number.isFinite(this.video.duration) ? this.video.duration : Infinity, known);
    return Math.max(0, Math.min(Number.isFinite(t) ? t : 0, d));
  }

  private async heartbeat(): Promise<void> {
    const g = this.grant;
    if (!g || this.stopped) return;
    try {
      const r = await api.POST('/api/v1/playback/sessions/{id}/heartbeat', {
        params: { path: { id: g.session_id } },
        body: { position: this.position() },
      });
      if (r.response.status === 404 || r.response.status === 410) {
        this.halt();
        this.hooks.onEnded?.('This stream was ended, from another device or because it was idle too long.');
        return;
      }
      const ack = ok(r);
      g.token = ack.token;
    } catch {
      /* a missed heartbeat: the next one repeats the position */
    }
  }

  /** The token ran out under the player: start a new session at the same place. */
  private async restart(): Promise<void> {
    const at = this.video.currentTime;
    this.halt();
    const old = this.grant;
    this.grant = null;
    if (old) void this.end(old.session_id, false);
    this.engine?.destroy();
    this.engine = null;
    this.opts.durationSecs = null;
    await this.start();
    if (at > 0 && this.video.readyState > 0) this.video.currentTime = at;
  }

  setLevel(index: number): void {
    this.engine?.setLevel(index);
  }

  level(): number {
    return this.engine?.level() ?? -1;
  }

  private halt(): void {
    clearInterval(this.timer);
    this.video.removeEventListener('pause', this.beat);
    this.video.removeEventListener('ended', this.beat);
    removeEventListener('pagehide', this.onPageHide);
  }

  private async end(id: string, keepalive: boolean): Promise<void> {
    try {
      const res = await apiFetch(`/api/v1/playback/sessions/${encodeURIComponent(id)}`, { method: 'DELETE', keepalive });
      await res.body?.cancel();
    } catch {
      /* the stream expires on its own */
    }
  }

  /** Saves the position and ends the session (its slot is free at once). */
  stop(keepalive = false): void {
    if (this.stopped) return;
    this.stopped = true;
    const g = this.grant;
    this.halt();
    this.grant = null;
    if (g && keepalive) {
      // The page is going away: only what fits in a keepalive request, the end of the stream.
      void this.end(g.session_id, true);
    } else if (g) {
      const position = this.position();
      void apiFetch(`/api/v1/playback/sessions/${encodeURIComponent(g.session_id)}/heartbeat`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ position }),
      })
        .then((r) => r.body?.cancel())
        .catch(() => undefined)
        .finally(() => void this.end(g.session_id, false));
    }
    this.engine?.destroy();
    this.engine = null;
  }
}

/** Ends a stream named by an `href` (from a 429 problem or /users/me/streams). */
export async function endStream(href: string): Promise<void> {
  const res = await apiFetch(href, { method: 'DELETE' });
  if (!res.ok && res.status !== 404) throw await problemOf(res);
  await res.body?.cancel();
}

/** The DELETE href for each live device of a 429 problem. */
export function stopHrefs(p: LimitProblem): Map<string, string> {
  const out = new Map<string, string>();
  for (const d of p.devices) out.set(d.session_id, d.href ?? `/api/v1/playback/sessions/${d.session_id}`);
  for (const a of p.actions) {
    if (a.action !== 'stop_stream') continue;
    const d = p.devices.find((x) => x.device_id === a.device_id);
    if (d) out.set(d.session_id, a.href);
  }
  return out;
}

export function upgradeHref(p: LimitProblem): string | null {
  const a = p.actions.find((x) => x.action === 'upgrade');
  return a ? a.href : null;
}
