// Resumable uploads from the user's side: across a reload, and with Pause and Resume. Each ends
// with the video ready (and playing), and checks on the wire that the bytes the server had were
// not sent again: the first PATCH after the break starts at the server's offset, not at 0.

import { statSync } from 'node:fs';
import { test, expect, signInUI, apiUser, uniqueName, expectPlaying, logTus, throttleUploads, tusOffset } from './fixtures';

test('upload across a reload resumes at the server offset, then reaches ready and plays', async ({ page, env }) => {
  const name = uniqueName('resume');
  await apiUser(env, name);
  await signInUI(page, name, undefined, '/upload');
  const size = statSync(env.clips.big).size;

  // Slow the upload down so the reload lands in the middle of it.
  await throttleUploads(page, 3 * 1024 * 1024);
  const created = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/api/v1/videos');
  await page.getByLabel('Choose a video file').setInputFiles(env.clips.big);
  await page.getByLabel('Title').fill('Resumed upload');
  await page.getByRole('button', { name: 'Upload' }).click();
  const videoId = ((await (await created).json()) as { id: string }).id;
  // At least one chunk (8 MiB) acknowledged by the server.
  await page.waitForResponse((r) => r.request().method() === 'PATCH' && r.url().includes('/api/v1/uploads/') && r.status() === 204, {
    timeout: 60_000,
  });
  await page.reload();
  await throttleUploads(page, null);

  // After the reload: the session comes back (cookie) or the user signs in again.
  await expect(page.getByRole('heading', { name: /^(Upload a video|Sign in)$/ })).toBeVisible();
  if (await page.getByRole('heading', { name: 'Sign in' }).isVisible()) {
    await signInUI(page, name, undefined, '/upload');
  }
  let videosCreated = 0;
  page.on('request', (r) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname === '/api/v1/videos') videosCreated++;
  });
  const tus = logTus(page);
  await page.getByLabel('Choose a video file').setInputFiles(env.clips.big);
  // No details form: it picks up the same video and resumes.
  await expect(page.getByText(/The upload resumed at/)).toBeVisible({ timeout: 30_000 });
  await expect(page.getByLabel('Processing')).toBeVisible({ timeout: 120_000 });

  // On the wire: no new video, no new upload; a HEAD asked where the server stood, and the first
  // PATCH went on from exactly there, past the first chunk, up to the end of the file.
  expect(videosCreated).toBe(0);
  expect(tus.creations).toBe(0);
  const head = tus.answers.find((a) => a.method === 'HEAD');
  expect(head?.status).toBe(200);
  const first = tus.patches[0]?.offset ?? 0;
  expect(first).toBe(head?.offset);
  expect(first).toBeGreaterThanOrEqual(8 * 1024 * 1024);
  expect(tus.patches.map((p) => p.offset)).toEqual([...tus.patches.map((p) => p.offset)].sort((a, b) => a - b));
  expect(tus.answers.filter((a) => a.method === 'PATCH').at(-1)).toEqual({ method: 'PATCH', status: 204, offset: size });
  console.log(`resume: file ${size} bytes, resumed at ${first}, sent ${size - first} after the reload`);

  // And the video it finished is the one created before the reload: ready, and it plays.
  await expect(page.getByText('Your video is ready.')).toBeVisible({ timeout: 120_000 });
  await page.getByRole('link', { name: 'Watch it' }).click();
  await expect(page).toHaveURL(`/watch/${videoId}`);
  await expect(page.getByRole('heading', { name: 'Resumed upload', level: 1 })).toBeVisible();
  await expectPlaying(page);
});

test('Pause stops the bytes; Resume goes on from the server’s offset and the video gets ready', async ({ page, env }) => {
  const name = uniqueName('pause');
  const token = await apiUser(env, name);
  await signInUI(page, name, undefined, '/upload');
  const size = statSync(env.clips.big).size;
  const tus = logTus(page);

  await throttleUploads(page, 2 * 1024 * 1024);
  await page.getByLabel('Choose a video file').setInputFiles(env.clips.big);
  await page.getByLabel('Title').fill('Paused upload');
  await page.getByRole('button', { name: 'Upload' }).click();
  // The first chunk is in; pause in the middle of the second.
  await page.waitForResponse((r) => r.request().method() === 'PATCH' && r.url().includes('/api/v1/uploads/') && r.status() === 204, {
    timeout: 60_000,
  });
  await page.getByRole('button', { name: 'Pause' }).click();
  await expect(page.getByRole('status').filter({ hasText: /^Paused at / })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Resume' })).toBeVisible();
  const patchesAtPause = tus.patches.length;
  expect(tus.url).not.toBeNull();
  const url = tus.url!;

  // The server's offset settles (the cut-off PATCH's bytes land), then stays where it is.
  let paused = -1;
  await expect
    .poll(
      async () => {
        const before = await tusOffset(url, token);
        await new Promise((r) => setTimeout(r, 500));
        paused = await tusOffset(url, token);
        return paused === before;
      },
      { timeout: 20_000 },
    )
    .toBe(true);
  expect(paused).toBeGreaterThanOrEqual(8 * 1024 * 1024);
  expect(paused).toBeLessThan(size);
  // A while later: not one byte more, no request sent.
  await page.waitForTimeout(2_000);
  expect(await tusOffset(url, token)).toBe(paused);
  expect(tus.patches.length).toBe(patchesAtPause);
  await expect(page.getByRole('status').filter({ hasText: /^Paused at / })).toBeVisible();

  await throttleUploads(page, null);
  await page.getByRole('button', { name: 'Resume' }).click();
  await expect(page.getByText('Your video is ready.')).toBeVisible({ timeout: 120_000 });
  // It went on from where the server stood, with one upload all along.
  expect(tus.creations).toBe(1);
  expect(tus.patches[patchesAtPause]?.offset).toBe(paused);
  expect(tus.answers.filter((a) => a.method === 'PATCH').at(-1)).toEqual({ method: 'PATCH', status: 204, offset: size });
});

test('an oversized file is refused before any byte is sent, with the server limit', async ({ page, env }) => {
  const name = uniqueName('big');
  await apiUser(env, name);
  await signInUI(page, name, undefined, '/upload');
  // Pretend the server's limit is tiny: the page reads Tus-Max-Size from OPTIONS.
  await page.route('**/api/v1/uploads', async (route) => {
    if (route.request().method() !== 'OPTIONS') return route.fallback();
    const res = await route.fetch();
    await route.fulfill({ response: res, headers: { ...res.headers(), 'tus-max-size': '1000' } });
  });
  await page.reload();
  let posts = 0;
  page.on('request', (r) => {
    if ((r.method() === 'POST' || r.method() === 'PATCH') && /\/api\/v1\/(uploads|videos)/.test(r.url())) posts++;
  });
  await page.getByLabel('Choose a video file').setInputFiles(env.clips.small);
  await expect(page.getByRole('alert')).toContainText('this server accepts files up to 1.0 KB');
  expect(posts).toBe(0);
});
