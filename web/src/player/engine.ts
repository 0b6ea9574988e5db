// Puts an HLS master playlist into a <video>: hls.js (loaded on demand) where Media Source
// Extensions exist, the browser's own HLS otherwise (Safari on iOS). No HLS parsing here.

export interface Level {
  /** hls.js level index. */
  index: number;
  height: number;
  bitrate: number;
  label: string;
}

export interface Engine {
  /** The levels the master playlist offers, tallest first (empty with native HLS). */
  levels: Level[];
  /** -1 is automatic. */
  setLevel(index: number): void;
  level(): number;
  /** Loads a fresh master playlist URL (a renewed token) at the current position. */
  reload(url: string): void;
  destroy(): void;
}

export interface EngineHooks {
  onLevels?(levels: Level[]): void;
  /** A fatal playback error the engine could not recover from. */
  onFatal?(what: string, httpStatus?: number): void;
}

const hasMse = () =>
  typeof window !== 'undefined' &&
  ('MediaSource' in window || 'ManagedMediaSource' in window) &&
  typeof (window as unknown as { MediaSource?: { isTypeSupported?: unknown } }).MediaSource?.isTypeSupported ===
    'function';

let hlsModule: Promise<typeof import('hls.js/light')> | null = null;

/** Starts fetching hls.js early (the watch page calls this while it loads the video). */
export function preloadHls(): void {
  if (hasMse() && !hlsModule) hlsModule = import('hls.js/light');
}

export async function attach(video: HTMLVideoElement, url: string, startAt: number, hooks: EngineHooks): Promise<Engine> {
  if (hasMse()) {
    preloadHls();
    const { default: Hls } = await (hlsModule as Promise<typeof import('hls.js/light')>);
    if (Hls.isSupported()) {
      const hls = new Hls({
        startPosition: startAt > 0 ? startAt : -1,
        // No worker: it would need a blob: worker-src in the Content-Security-Policy.
        enableWorker: false,
        capLevelToPlayerSize: false,
        debug: false,
        // Keeps the first frame quick on a fresh start.
        startFragPrefetch: true,
        backBufferLength: 60,
      });
      let levels: Level[] = [];
      let mediaRecoveries = 0;
      hls.on(Hls.Events.MANIFEST_PARSED, (_e, data) => {
        levels = data.levels
          .map((l, index) => ({
            index,
            height: l.height,
            bitrate: l.bitrate,
            label: l.height ? `${l.height}p` : `${Math.round(l.bitrate / 1000)} kb/s`,
          }))
          .sort((a, b) => b.height - a.height || b.bitrate - a.bitrate);
        engine.levels = levels;
        hooks.onLevels?.(levels);
      });
      hls.on(Hls.Events.ERROR, (_e, data) => {
        if (!data.fatal) return;
        if (data.type === Hls.ErrorTypes.MEDIA_ERROR && mediaRecoveries < 2) {
          mediaRecoveries++;
          hls.recoverMediaError();
          return;
        }
        const status = data.response && typeof data.response.code === 'number' ? data.response.code : undefined;
        hooks.onFatal?.(data.details, status);
      });
      hls.loadSource(url);
      hls.attachMedia(video);
      const engine: Engine = {
        levels,
        setLevel(i) {
          hls.currentLevel = i;
        },
        level() {
          return hls.autoLevelEnabled ? -1 : hls.currentLevel;
        },
        reload(next) {
          const at = video.currentTime;
          hls.stopLoad();
          hls.loadSource(next);
          hls.startLoad(at);
        },
        destroy() {
          hls.destroy();
        },
      };
      return engine;
    }
  }
  if (video.canPlayType('application/vnd.apple.mpegurl')) {
    const seek = () => {
      if (startAt > 0) video.currentTime = startAt;
    };
    video.addEventListener('loadedmetadata', seek, { once: true });
    video.src = url;
    const onError = () => hooks.onFatal?.('the browser could not play this video');
    video.addEventListener('error', onError);
    hooks.onLevels?.([]);
    return {
      levels: [],
      setLevel() {},
      level: () => -1,
      reload(next) {
        const at = video.currentTime;
        video.addEventListener('loadedmetadata', () => (video.currentTime = at), { once: true });
        video.src = next;
      },
      destroy() {
        video.removeEventListener('error', onError);
        video.removeAttribute('src');
        video.load();
      },
    };
  }
  throw new Error('this browser cannot play HLS video');
}
