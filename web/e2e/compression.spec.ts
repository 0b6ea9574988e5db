// Compression as a browser gets it: the console's JavaScript arrives as the brotli file the
// build made, and hls.js plays a video whose playlists arrive compressed (Chromium sends
// `Accept-Encoding: gzip, deflate, br, zstd`; troupe answers br).

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Response } from '@playwright/test';
import { test, expect, apiUser, uniqueName, expectPlaying } from './fixtures';
import { uploadVideo, waitReady } from './global-setup';

test('the console’s JavaScript arrives brotli-compressed', async ({ page, env }) => {
  test.skip(!env.serverServesConsole, 'a Vite preview serves the console, not troupe');
  const entry = page.waitForResponse((r) => /\/assets\/index-[^/]*\.js$/.test(r.url()));
  await page.goto('/');
  const js = await entry;
  expect(js.status()).toBe(200);
  expect(await js.headerValue('content-encoding')).toBe('br');
  expect(await js.headerValue('vary')).toMatch(/accept-encoding/i);
  expect(await js.headerValue('content-type')).toMatch(/javascript/);
  // It ran: the page rendered.
  await expect(page.locator('#app')).not.toBeEmpty();
});

test('hls.js plays a video whose playlists arrive compressed', async ({ page, env }) => {
  // Three minutes at 320x240: one quick rendition, and a media playlist of 45 segments, over
  // the 1 KiB under which troupe does not compress.
  const long = join(dirname(env.clips.tiny), 'long-320x240.mp4');
  if (!existsSync(long))
    execFileSync('ffmpeg', [
      '-v', 'error', '-y',
      '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=15',
      '-f', 'lavfi', '-i', 'sine=frequency=550:sample_rate=48000',
      '-t', '180', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p',
      '-c:a', 'aac', '-shortest', '-movflags', '+faststart', long,
    ]);
  const token = await apiUser(env, uniqueName('gz'));
  const id = await uploadVideo(env.server, token, long, { title: 'A long test pattern', visibility: 'public' });
  await waitReady(env.server, token, id, 300);

  const playlists: Promise<{ url: string; encoding: string | null; bytes: number }>[] = [];
  page.on('response', (r: Response) => {
    if (!new URL(r.url()).pathname.endsWith('.m3u8')) return;
    playlists.push(
      (async () => ({
        url: r.url(),
        encoding: await r.headerValue('content-encoding'),
        bytes: (await r.body()).length,
      }))(),
    );
  });
  await page.goto(`/watch/${id}`);
  await expect(page.getByRole('heading', { name: 'A long test pattern', level: 1 })).toBeVisible();
  await expectPlaying(page, 1);

  const got = await Promise.all(playlists);
  const media = got.filter((p) => !new URL(p.url).pathname.endsWith('/master.m3u8'));
  expect(media.length, JSON.stringify(got)).toBeGreaterThan(0);
  for (const p of media) {
    expect(p.bytes, p.url).toBeGreaterThan(1024);
    // Compressed per request: gzip when the browser takes both (cheaper on the server's CPU).
    expect(p.encoding, p.url).toBe('gzip');
  }
});
