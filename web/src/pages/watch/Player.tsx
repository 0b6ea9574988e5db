import { useEffect, useRef, useState } from 'preact/hooks';
import type { ApiProblem, Video } from '../../api/client';
import type { LimitProblem } from '../../api/pending';
import { Status } from '../../components/Status';
import type { Level } from '../../player/engine';
import { bindKeys } from '../../player/keys';
import { Playback } from '../../player/playback';
import { LimitDialog } from './LimitDialog';

/** The player: the video, a quality menu with the levels the master playlist offers, keyboard
 * controls, and the stream-limit dialog. `startAt` (seconds, a shared link's `?t=`) replaces
 * the resume position; `onElement` hands the <video> to the page (Share reads its time). */
export function Player({
  video,
  startAt,
  onElement,
}: {
  video: Video;
  startAt?: number | null;
  onElement?: (el: HTMLVideoElement | null) => void;
}) {
  const el = useRef<HTMLVideoElement>(null);
  const box = useRef<HTMLDivElement>(null);
  const pb = useRef<Playback | null>(null);
  const [levels, setLevels] = useState<Level[] | null>(null);
  const [level, setLevel] = useState(-1);
  const [busy, setBusy] = useState<string | null>('Starting playback…');
  const [error, setError] = useState<ApiProblem | null>(null);
  const [ended, setEnded] = useState<string | null>(null);
  const [limit, setLimit] = useState<LimitProblem | null>(null);
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    onElement?.(el.current);
    return () => onElement?.(null);
  }, [onElement]);

  useEffect(() => {
    const v = el.current;
    if (!v) return;
    setBusy('Starting playback…');
    setError(null);
    setEnded(null);
    setLevels(null);
    const p = new Playback(
      v,
      video.id,
      {
        onGrant: () => setBusy(null),
        onLevels: (l) => {
          setLevels(l);
          setLevel(-1);
        },
        onLimit: (problem) => {
          setBusy(null);
          setLimit(problem);
        },
        onError: (problem) => {
          setBusy(null);
          setError(problem);
        },
        onEnded: (why) => {
          v.pause();
          setEnded(why);
        },
      },
      // The link's start time counts for the first attempt only.
      { durationSecs: video.duration_secs ?? null, startAt: attempt === 0 ? startAt : null },
    );
    pb.current = p;
    void p.start();
    const unbind = bindKeys(v, box.current);
    return () => {
      unbind();
      p.stop();
      pb.current = null;
    };
    // A new session per video and per attempt (after ending a stream elsewhere).
  }, [video.id, attempt]);

  const choose = (e: Event) => {
    const i = Number((e.currentTarget as HTMLSelectElement).value);
    setLevel(i);
    pb.current?.setLevel(i);
  };

  return (
    <div class="player" ref={box}>
      <video
        ref={el}
        controls
        playsInline
        preload="auto"
        aria-label={`Video: ${video.title}`}
        aria-describedby="player-keys"
      />
      <div class="player-bar">
        {levels && levels.length > 0 && (
          <div class="field inline">
            <label for="quality">Quality</label>
            <select id="quality" value={String(level)} onChange={choose}>
              <option value="-1">Auto</option>
              {levels.map((l) => (
                <option key={l.index} value={String(l.index)}>
                  {l.label}
                </option>
              ))}
            </select>
          </div>
        )}
        <p id="player-keys" class="muted small">
          Keys: space or k play/pause, ← → seek 5 s, f fullscreen, m mute.
        </p>
      </div>
      <Status busy={busy} error={error} />
      {ended && (
        <div role="alert" class="problem">
          <p>{ended}</p>
          <button type="button" onClick={() => setAttempt((a) => a + 1)}>
            Play here again
          </button>
        </div>
      )}
      {limit && (
        <LimitDialog
          problem={limit}
          onClose={() => setLimit(null)}
          onEnded={() => {
            setLimit(null);
            setAttempt((a) => a + 1);
          }}
        />
      )}
      {!busy && !limit && error?.code === 'concurrent_limit_exceeded' && (
        <button type="button" onClick={() => setAttempt((a) => a + 1)}>
          Try again
        </button>
      )}
    </div>
  );
}
