import { statSync } from 'node:fs';
import { test, expect, signInUI, apiUser, uniqueName } from './fixtures';

test('upload across a reload resumes at the server offset', async ({ page, env }) => {
  const name = uniqueName('resume');
  await apiUser(env, name);
  await signInUI(page, name, undefined, '/upload');
  const size = statSync(env.clips.big).size;

  // Slow the upload down so the reload lands in the middle of it.
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false,
    latency: 0,
    downloadThroughput: -1,
    uploadThroughput: 3 * 1024 * 1024,
  });

  await page.getByLabel('Choose a video file').setInputFiles(env.clips.big);
  await page.getByLabel('Title').fill('Resumed upload');
  await page.getByRole('button', { name: 'Upload' }).click();
  // At least one chunk (8 MiB) acknowledged by the server.
  await page.waitForResponse((r) => r.request().method() === 'PATCH' && r.url().includes('/api/v1/uploads/') && r.status() === 204, {
    timeout: 60_000,
  });
  await page.reload();
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });

  // After the reload: the session comes back (cookie) or the user signs in again.
  await expect(page.getByRole('heading', { name: /^(Upload a video|Sign in)$/ })).toBeVisible();
  if (await page.getByRole('heading', { name: 'Sign in' }).isVisible()) {
    await signInUI(page, name, undefined, '/upload');
  }
  const offsets: number[] = [];
  page.on('request', (r) => {
    if (r.method() === 'PATCH' && r.url().includes('/api/v1/uploads/')) offsets.push(Number(r.headers()['upload-offset']));
  });
  await page.getByLabel('Choose a video file').setInputFiles(env.clips.big);
  // No details form: it picks up the same video and resumes.
  await expect(page.getByText(/The upload resumed at/)).toBeVisible({ timeout: 30_000 });
  await expect(page.getByLabel('Processing')).toBeVisible({ timeout: 120_000 });
  expect(offsets.length).toBeGreaterThan(0);
  const first = offsets[0];
  expect(first).toBeGreaterThan(0);
  const sent = size - first;
  expect(sent).toBeLessThan(size);
  console.log(`resume: file ${size} bytes, resumed at ${first}, sent ${sent} after the reload`);
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
