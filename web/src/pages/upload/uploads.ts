// The upload page's data: one upload at a time, with tus-js-client, resumable across reloads.
//
// tus-js-client keeps each upload's URL in localStorage under the file's fingerprint (name,
// type, size, modification time, endpoint): a reload, a closed tab or a dropped network, then
// the same file picked again, resumes at the server's offset (a HEAD, then PATCHes from there).
// The job lives in this module, not in the page component, so moving to sign-in and back (an
// expired session) keeps the File in memory and the upload continues afterwards.

import * as tus from 'tus-js-client';
import { ApiProblem, api, ok, toProblem, type Channel, type Video } from '../../api/client';
import type { Details } from '../../components/VideoFields';
import type { ProblemBody } from '../../api/pending';
import { watchVideo } from '../../lib/events';
import { bytes } from '../../lib/format';
import { accessToken, expired, onSession, refresh } from '../../session';

export type Phase =
  | 'idle'
  | 'checking'
  | 'details'
  | 'creating'
  | 'uploading'
  | 'paused'
  | 'processing'
  | 'ready'
  | 'failed'
  | 'error';

export interface Job {
  phase: Phase;
  file: File | null;
  sent: number;
  total: number;
  /** Where the server said the upload stood when it resumed (bytes), if it resumed. */
  resumedAt: number | null;
  video: Video | null;
  error: ApiProblem | null;
  /** Why it is paused: 'auth' waits for a new sign-in, 'user' for the Resume button. */
  pausedFor: 'auth' | 'user' | null;
}

const CHUNK = 8 * 1024 * 1024;
const endpoint = () => new URL('/api/v1/uploads', location.href).href;

let job: Job = fresh();
let upload: tus.Upload | null = null;
let stopEvents: (() => void) | null = null;
const listeners = new Set<(j: Job) => void>();

function fresh(): Job {
  return { phase: 'idle', file: null, sent: 0, total: 0, resumedAt: null, video: null, error: null, pausedFor: null };
}

function set(patch: Partial<Job>): void {
  job = { ...job, ...patch };
  for (const l of listeners) l(job);
}

export function current(): Job {
  return job;
}

export function subscribe(l: (j: Job) => void): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

let maxSize: Promise<number | null> | null = null;

/** The server's upload limit, from `Tus-Max-Size` of `OPTIONS /api/v1/uploads`. */
export function serverMaxSize(): Promise<number | null> {
  maxSize ??= fetch('/api/v1/uploads', { method: 'OPTIONS', headers: { 'Tus-Resumable': '1.0.0' } })
    .then((r) => {
      const v = Number(r.headers.get('Tus-Max-Size'));
      return Number.isFinite(v) && v > 0 ? v : null;
    })
    .catch(() => {
      maxSize = null;
      return null;
    });
  return maxSize;
}

function titleOf(file: File): string {
  const t = file.name.replace(/\.[^.]+$/, '').replace(/[_]+/g, ' ').trim();
  return (t || 'Untitled').slice(0, 200);
}

export const suggestTitle = titleOf;

function problemOfTus(err: Error): ApiProblem {
  const res = (err as tus.DetailedError).originalResponse;
  if (!res) return new ApiProblem(0, null, `the upload stopped: ${err.message.split('\n')[0] ?? 'network error'}`);
  let body: ProblemBody | null = null;
  try {
    body = JSON.parse(res.getBody()) as ProblemBody;
  } catch {
    body = null;
  }
  return new ApiProblem(res.getStatus(), body, `the server answered ${res.getStatus()}`);
}

function makeUpload(file: File, videoId: string): tus.Upload {
  return new tus.Upload(file, {
    endpoint: endpoint(),
    chunkSize: CHUNK,
    retryDelays: [0, 1000, 3000, 5000, 10000],
    storeFingerprintForResuming: true,
    removeFingerprintOnSuccess: true,
    metadata: { video_id: videoId, filename: file.name, filetype: file.type || 'application/octet-stream' },
    onBeforeRequest: (req) => {
      const t = accessToken();
      if (t) req.setHeader('Authorization', `Bearer ${t}`);
    },
    onAfterResponse: (req, res) => {
      if (req.getMethod() === 'HEAD' && res.getStatus() === 200) {
        const at = Number(res.getHeader('Upload-Offset'));
        if (Number.isFinite(at)) set({ resumedAt: at, sent: at });
      }
    },
    onShouldRetry: (err) => {
      const s = err.originalResponse?.getStatus() ?? 0;
      // Network trouble and server hiccups: yes. Auth and refusals: handled in onError.
      return s === 0 || s === 409 || s === 423 || s === 429 || s >= 500;
    },
    onProgress: (sent, total) => {
      if (job.phase === 'uploading') set({ sent, total });
    },
    onSuccess: () => {
      upload = null;
      set({ phase: 'processing', sent: file.size, total: file.size });
      follow(videoId);
    },
    onError: (err) => void failed(err),
  });
}

async function failed(err: Error): Promise<void> {
  const p = problemOfTus(err);
  if (p.status === 401) {
    // The access token ran out: get a new one and carry on from the server's offset.
    const t = await refresh();
    if (t && upload) {
      upload.start();
      return;
    }
    set({ phase: 'paused', pausedFor: 'auth', error: new ApiProblem(401, null, 'Your session ended. Sign in again: the upload continues where it stopped.') });
    expired();
    return;
  }
  set({ phase: 'error', error: p });
}

/** Processing progress, live over server-sent events. */
function follow(videoId: string): void {
  stopEvents?.();
  stopEvents = watchVideo(videoId, {
    video: (v) => {
      if (job.video?.id !== v.id) return;
      const phase: Phase = v.state === 'ready' ? 'ready' : v.state === 'failed' ? 'failed' : 'processing';
      set({ video: v, phase });
      if (phase === 'ready') {
        stopEvents?.();
        stopEvents = null;
      }
    },
  });
}

async function getVideo(id: string): Promise<Video | null> {
  const r = await api.GET('/api/v1/videos/{id}', { params: { path: { id } } });
  if (r.response.status === 404) return null;
  return ok(r);
}

/** A file was picked or dropped. `forVideo` is set when the page was opened to finish the
 * upload of one video (from My videos). */
export async function pick(file: File, forVideo?: string | null): Promise<void> {
  if (upload || job.phase === 'creating') return;
  stopEvents?.();
  stopEvents = null;
  job = fresh();
  set({ phase: 'checking', file, total: file.size });
  const max = await serverMaxSize();
  if (max !== null && file.size > max) {
    set({
      phase: 'error',
      error: new ApiProblem(413, null, `This file is ${bytes(file.size)}; this server accepts files up to ${bytes(max)}. Nothing was sent.`),
    });
    return;
  }
  try {
    // The same file as an unfinished upload? Resume it.
    const probe = makeUpload(file, forVideo ?? '');
    const previous = await probe.findPreviousUploads();
    for (const prev of previous) {
      const id = prev.metadata.video_id;
      const v = id ? await getVideo(id) : null;
      if (v && (v.state === 'awaiting_upload' || v.state === 'uploading') && (!forVideo || forVideo === v.id)) {
        upload = makeUpload(file, v.id);
        upload.resumeFromPreviousUpload(prev);
        set({ phase: 'uploading', video: v, sent: 0 });
        upload.start();
        return;
      }
      await tus.defaultOptions.urlStorage.removeUpload(prev.urlStorageKey);
    }
    if (forVideo) {
      const v = await getVideo(forVideo);
      if (v && (v.state === 'awaiting_upload' || v.state === 'uploading')) {
        start(file, v);
        return;
      }
    }
    set({ phase: 'details' });
  } catch (e) {
    set({ phase: 'error', error: toProblem(e) });
  }
}

function start(file: File, v: Video): void {
  upload = makeUpload(file, v.id);
  set({ phase: 'uploading', video: v, sent: 0, error: null });
  upload.start();
}

/** The metadata form was sent: create the video, then send the bytes. */
export async function create(d: Details & { channel?: string }): Promise<void> {
  const file = job.file;
  if (!file || job.phase !== 'details') return;
  set({ phase: 'creating', error: null });
  try {
    const v = ok(
      await api.POST('/api/v1/videos', {
        body: { title: d.title, description: d.description, tags: d.tags, visibility: d.visibility, channel: d.channel },
      }),
    );
    start(file, v);
  } catch (e) {
    set({ phase: 'details', error: toProblem(e) });
  }
}

export function pause(): void {
  if (!upload || job.phase !== 'uploading') return;
  void upload.abort(false);
  set({ phase: 'paused', pausedFor: 'user' });
}

/** Resume after a pause or an error: from the server's offset. */
export function resume(): void {
  if (!upload) return;
  set({ phase: 'uploading', pausedFor: null, error: null });
  upload.start();
}

/** The caller's channels, for the channel picker (the default channel first). */
export async function channels(): Promise<Channel[]> {
  return ok(await api.GET('/api/v1/users/me/channels'));
}

/** Retry a failed transcode (`POST /api/v1/videos/{id}/retry`). */
export async function retryProcessing(): Promise<void> {
  const v = job.video;
  if (!v) return;
  set({ error: null });
  try {
    const nv = ok(await api.POST('/api/v1/videos/{id}/retry', { params: { path: { id: v.id } } }));
    set({ phase: 'processing', video: nv });
    follow(v.id);
  } catch (e) {
    set({ error: toProblem(e) });
  }
}

/** Start over with another file (an unfinished upload stays resumable by its file). */
export function reset(): void {
  if (upload && job.phase === 'uploading') void upload.abort(false);
  upload = null;
  stopEvents?.();
  stopEvents = null;
  job = fresh();
  set({});
}

// After a sign-in that an expired session asked for, the paused upload carries on.
onSession((s) => {
  if (s.status === 'signed-in' && job.phase === 'paused' && job.pausedFor === 'auth') resume();
});
