// Starts a real troupe (TROUPE_BIN, default ../target/debug/troupe) on a free loopback port with a
// temporary data dir and quick transcodes, generates clips with ffmpeg, and makes the videos the
// tests share through the API. When the server does not serve the console yet, a Vite preview
// of web/dist stands in front of it (proxying /api and /hls), so the same tests run either way.

import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { existsSync, mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { E2eEnv } from './env';

const web = resolve(import.meta.dirname, '..');
export const STATE_FILE = join(web, 'e2e', '.tmp', 'processes.json');

const LADDER = [240, 360, 480, 720];

export const ADMIN = { username: 'e2eadmin', password: 'violet-harbor-cinnamon-42' };

/** Fast transcodes and short leases, as the Rust tests use (tests/it/media.rs media_env). */
function serverEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    TROUPE__AUTH__JWT_SECRET: 'test-secret-test-secret-test-secret-0123',
    TROUPE__AUTH__ADMIN_USERNAMES: `["${ADMIN.username}"]`,
    TROUPE__SERVER__WORKERS: '2',
    TROUPE__RATE_LIMIT__ENABLED: 'false',
    TROUPE__LOG__LEVEL: 'warn',
    TROUPE__MEDIA__X264_PRESET: 'ultrafast',
    TROUPE__MEDIA__SWEEP_INTERVAL_SECS: '1',
    TROUPE__MEDIA__JOB_LEASE_SECS: '3',
    TROUPE__MEDIA__TRANSCODE_RETRY_BACKOFF_MS: '300',
    TROUPE__MEDIA__TRANSCODE_ATTEMPTS: '1',
    TROUPE__MEDIA__EVENTS_POLL_MS: '200',
    TROUPE__MEDIA__LADDER: `[${LADDER.join(',')}]`,
    // The comment specs post many comments from few users in seconds (the rate limit itself is
    // tested in tests/it/comments.rs).
    TROUPE__COMMENTS__RATE_PER_MINUTE: '600',
    TROUPE__COMMENTS__BURST: '60',
    TROUPE__PLAYBACK__HEARTBEAT_INTERVAL_SECS: process.env.TROUPE__PLAYBACK__HEARTBEAT_INTERVAL_SECS ?? '5',
    // Mail goes to the SMTP sink the setup starts (aiosmtpd, a Maildir the specs read).
    ...(process.env.E2E_SMTP_URL ? { TROUPE__EMAIL__SMTP_URL: process.env.E2E_SMTP_URL } : {}),
    // Webhook receivers in the specs listen on loopback, over plain http.
    TROUPE__WEBHOOKS__ALLOWED_NETWORKS: '["127.0.0.0/8"]',
    TROUPE__WEBHOOKS__ALLOW_HTTP: 'true',
    // No automatic retry within a test's time: a retry in the specs is the user's.
    TROUPE__WEBHOOKS__SCHEDULE_SECS: '[600,600]',
  };
}

function startServer(bin: string, dataDir: string, extraEnv: Record<string, string> = {}): Promise<{ child: ChildProcess; url: string }> {
  return new Promise((ok, fail) => {
    const child = spawn(bin, ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir], {
      env: { ...serverEnv(), ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const timer = setTimeout(() => fail(new Error(`${bin} did not say where it listens within 30 s`)), 30_000);
    child.on('error', (e) => fail(e));
    child.on('exit', (code) => fail(new Error(`${bin} exited with ${code} before listening`)));
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const m = /^troupe listening on (http:\/\/\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        ok({ child, url: m[1] });
      }
    });
    child.stderr.on('data', () => undefined);
  });
}

/** The troupe binary the suite runs (TROUPE_BIN, default ../target/debug/troupe). */
function troupeBin(): string {
  return resolve(web, process.env.TROUPE_BIN ?? '../target/debug/troupe');
}

/** A second troupe for the tests that need other settings than the shared one (for example
 * access tokens that live two seconds), on its own data dir; `stop` ends it by its pid and
 * removes the dir. Null when the suite runs against an outside server (E2E_SERVER_URL). */
export async function startExtraServer(
  extraEnv: Record<string, string>,
): Promise<{ url: string; pid: number; stop: () => Promise<void> } | null> {
  if (process.env.E2E_SERVER_URL) return null;
  const dataDir = mkdtempSync(join(tmpdir(), 'troupe-e2e-extra-'));
  const { child, url } = await startServer(troupeBin(), dataDir, extraEnv);
  return {
    url,
    pid: child.pid!,
    stop: async () => {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a && typeof a === 'object' ? ok(a.port) : fail(new Error('no port'))));
    });
  });
}

async function startPreview(server: string): Promise<{ child: ChildProcess; url: string }> {
  if (!existsSync(join(web, 'dist', 'index.html'))) throw new Error('web/dist is missing: run `npm run build` (npm run e2e does)');
  const port = await freePort();
  const child = spawn(process.execPath, [join(web, 'node_modules', 'vite', 'bin', 'vite.js'), 'preview', '--port', String(port), '--strictPort'], {
    cwd: web,
    env: { ...process.env, TROUPE_URL: server },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(url + '/');
      if (r.ok) return { child, url };
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error('vite preview did not start');
}

/** aiosmtpd with its Maildir handler on a free loopback port: the SMTP server every troupe of
 * the suite sends to. Answers once it accepts connections. */
async function startSmtpSink(maildir: string): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const child = spawn('python3', ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${port}`, '-c', 'aiosmtpd.handlers.Mailbox', maildir], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) break;
    const up = await new Promise<boolean>((ok) => {
      const c = connect(port, '127.0.0.1', () => {
        c.end();
        ok(true);
      });
      c.on('error', () => ok(false));
    });
    if (up) return { child, url: `smtp://127.0.0.1:${port}` };
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error(`aiosmtpd did not start (install it: pip install aiosmtpd, or apt-get install python3-aiosmtpd): ${stderr}`);
}

function ffmpeg(args: string[]): void {
  execFileSync('ffmpeg', ['-v', 'error', '-y', ...args], { stdio: 'inherit' });
}

function makeClips(dir: string): E2eEnv['clips'] {
  mkdirSync(dir, { recursive: true });
  const small = join(dir, 'clip.mp4');
  const tiny = join(dir, 'tiny.mp4');
  const big = join(dir, 'big-padded.mp4');
  const notVideo = join(dir, 'notes.mp4');
  if (!existsSync(small))
    ffmpeg([
      '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30',
      '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
      '-t', '4', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p',
      '-c:a', 'aac', '-shortest', '-movflags', '+faststart', small,
    ]);
  // Small and quick to transcode (320x240: one rendition).
  if (!existsSync(tiny))
    ffmpeg([
      '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30',
      '-f', 'lavfi', '-i', 'sine=frequency=330:sample_rate=48000',
      '-t', '3', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p',
      '-c:a', 'aac', '-shortest', '-movflags', '+faststart', tiny,
    ]);
  // Big enough to be mid-upload under a throttled network (about 25 MB, four tus chunks), yet
  // as quick to transcode as the tiny clip: the tiny clip followed by a 24 MiB `free` box, which
  // MP4 readers skip (ISO/IEC 14496-12).
  if (!existsSync(big)) {
    const pad = 24 * 1024 * 1024;
    const box = Buffer.alloc(8);
    box.writeUInt32BE(8 + pad, 0);
    box.write('free', 4, 'latin1');
    writeFileSync(big, Buffer.concat([readFileSync(tiny), box, Buffer.alloc(pad)]));
  }
  if (!existsSync(notVideo)) writeFileSync(notVideo, 'These are notes, not a video.\n'.repeat(2000));
  return { small, tiny, big, notVideo };
}

async function api<T>(server: string, path: string, init: RequestInit & { token?: string } = {}): Promise<T> {
  const headers = new Headers(init.headers);
  if (init.token) headers.set('Authorization', `Bearer ${init.token}`);
  if (init.body && typeof init.body === 'string') headers.set('Content-Type', 'application/json');
  const r = await fetch(server + path, { ...init, headers });
  const text = await r.text();
  if (!r.ok) throw new Error(`${init.method ?? 'GET'} ${path}: ${r.status} ${text}`);
  return (text ? JSON.parse(text) : null) as T;
}

export async function registerAndLogin(server: string, username: string, password: string): Promise<string> {
  await api(server, '/api/v1/auth/register', {
    method: 'POST',
    body: JSON.stringify({ username, email: `${username}@example.org`, password }),
  });
  const t = await api<{ access_token: string }>(server, '/api/v1/auth/login', {
    method: 'POST',
    body: JSON.stringify({ username, password }),
  });
  return t.access_token;
}

/** Creates a video and uploads a file to it in one tus request (creation-with-upload). */
export async function uploadVideo(
  server: string,
  token: string,
  file: string,
  meta: { title: string; description?: string; tags?: string[]; visibility?: string },
): Promise<string> {
  const v = await api<{ id: string }>(server, '/api/v1/videos', { method: 'POST', token, body: JSON.stringify(meta) });
  const bytes = readFileSync(file);
  const r = await fetch(server + '/api/v1/uploads', {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${token}`,
      'Tus-Resumable': '1.0.0',
      'Upload-Length': String(bytes.length),
      'Upload-Metadata': `video_id ${Buffer.from(v.id).toString('base64')}`,
      'Content-Type': 'application/offset+octet-stream',
    },
    body: bytes,
  });
  if (r.status !== 201) throw new Error(`tus create: ${r.status} ${await r.text()}`);
  return v.id;
}

export async function waitReady(server: string, token: string, id: string, secs = 120): Promise<void> {
  for (let i = 0; i < secs * 4; i++) {
    const v = await api<{ state: string; failure_reason?: string }>(server, `/api/v1/videos/${id}`, { token });
    if (v.state === 'ready') return;
    if (v.state === 'failed') throw new Error(`video ${id} failed: ${v.failure_reason}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`video ${id} not ready after ${secs} s`);
}

export default async function globalSetup(): Promise<void> {
  const tmp = join(web, 'e2e', '.tmp');
  mkdirSync(tmp, { recursive: true });
  const clips = makeClips(join(tmp, 'clips'));

  const processes: number[] = [];
  const dirs: string[] = [];
  let server = process.env.E2E_SERVER_URL ?? '';
  let serverPid: number | null = null;
  const maildir = mkdtempSync(join(tmpdir(), 'troupe-e2e-mail-'));
  dirs.push(maildir);
  // A Maildir: aiosmtpd's handler makes these only when the directory itself is missing.
  for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(maildir, sub));
  if (!server) {
    const smtp = await startSmtpSink(maildir);
    processes.push(smtp.child.pid!);
    process.env.E2E_SMTP_URL = smtp.url;
    const bin = troupeBin();
    if (!existsSync(bin)) throw new Error(`no troupe binary at ${bin}: build it (cargo build) or set TROUPE_BIN`);
    const dataDir = mkdtempSync(join(tmpdir(), 'troupe-e2e-'));
    dirs.push(dataDir);
    const s = await startServer(bin, dataDir);
    processes.push(s.child.pid!);
    serverPid = s.child.pid!;
    server = s.url;
  }

  // Does the server serve the console itself yet?
  const home = await fetch(server + '/').catch(() => null);
  const serverServesConsole = !!home && home.ok && (home.headers.get('content-type') ?? '').includes('text/html');
  let base = server;
  if (!serverServesConsole || process.env.E2E_USE_PREVIEW) {
    const p = await startPreview(server);
    processes.push(p.child.pid!);
    base = p.url;
  }
  writeFileSync(STATE_FILE, JSON.stringify({ processes, dirs }));

  const token = await registerAndLogin(server, ADMIN.username, ADMIN.password);
  const probe = await fetch(server + '/api/v1/auth/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ ...ADMIN, refresh_cookie: true }),
  });
  const cookieLogin = probe.ok;
  const xss = {
    title: `<script>window.__xss=1</script> "quoted" 'single' <img src=x onerror="window.__xss=2"> עברית مرحبا`,
    description: `<b>bold?</b> <script>window.__xss=3</script>\n"line two" & ampersand ‏RTL‏ שלום`,
    tags: ['<script>x</script>', '"quote"', 'עברית'],
  };
  const [pub, priv, hostile] = await Promise.all([
    uploadVideo(server, token, clips.small, { title: 'Public test pattern', description: 'A public clip for the tests.', tags: ['e2e', 'pattern'], visibility: 'public' }),
    uploadVideo(server, token, clips.small, { title: 'Private test pattern', visibility: 'private' }),
    uploadVideo(server, token, clips.small, { ...xss, visibility: 'public' }),
  ]);
  await Promise.all([waitReady(server, token, pub), waitReady(server, token, priv), waitReady(server, token, hostile)]);

  const env: E2eEnv = {
    server,
    base,
    admin: ADMIN,
    clips,
    videos: { public: pub, private: priv, xss: hostile },
    xss,
    serverServesConsole,
    ladder: LADDER,
    cookieLogin,
    serverPid,
    maildir,
  };
  process.env.E2E_ENV = JSON.stringify(env);
  process.env.E2E_BASE_URL = base;
  console.log(`e2e: troupe at ${server}; pages at ${base}${serverServesConsole ? '' : ' (vite preview: the server does not serve the console yet)'}`);
}
