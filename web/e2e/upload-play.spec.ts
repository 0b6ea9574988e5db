import { test, expect, signUpUI, uniqueName, expectPlaying } from './fixtures';

test('upload and play: sign up, upload through the page, progress to ready, play to the end, like; another browser sees the count change', async ({
  page,
  env,
  newUserContext,
}) => {
  const name = uniqueName('up');
  await signUpUI(page, name, '/upload');
  await expect(page.getByRole('heading', { name: 'Upload a video' })).toBeVisible();

  await page.getByLabel('Choose a video file').setInputFiles(env.clips.small);
  await page.getByLabel('Title').fill('My first clip');
  await page.getByLabel('Description').fill('Made by the end-to-end test.');
  await page.getByLabel('Tags').fill('e2e, first');
  await page.getByRole('button', { name: 'Upload' }).click();

  // Upload progress, then processing progress, to ready.
  await expect(page.getByLabel('Processing')).toBeVisible({ timeout: 60_000 });
  await expect(page.getByText('Your video is ready.')).toBeVisible({ timeout: 120_000 });
  await page.getByRole('link', { name: 'Watch it' }).click();

  await expect(page.getByRole('heading', { name: 'My first clip', level: 1 })).toBeVisible();
  await expectPlaying(page);
  // Play it to the end.
  await expect.poll(() => page.evaluate(() => document.querySelector('video')?.ended ?? false), { timeout: 60_000 }).toBe(true);

  // A second browser (anonymous) watches the same page.
  const other = await newUserContext();
  const viewer = await other.newPage();
  await viewer.goto(page.url());
  await expect(viewer.getByRole('heading', { name: 'My first clip', level: 1 })).toBeVisible();
  await expect(viewer.getByText('0 likes')).toBeVisible();

  const like = page.getByRole('button', { name: /^Like/ });
  await like.click();
  await expect(like).toHaveAttribute('aria-pressed', 'true');
  await expect(like).toContainText('1');
  // Live over SSE, no reload.
  await expect(viewer.getByText('1 likes')).toBeVisible({ timeout: 10_000 });
});

test('a file that is not a video shows the server’s failure reason and offers a retry', async ({ page, env }) => {
  const name = uniqueName('bad');
  await signUpUI(page, name, '/upload');
  await page.getByLabel('Choose a video file').setInputFiles(env.clips.notVideo);
  await page.getByLabel('Title').fill('Not a video');
  await page.getByRole('button', { name: 'Upload' }).click();
  const alert = page.getByRole('alert').filter({ hasText: 'Processing failed' });
  await expect(alert).toBeVisible({ timeout: 120_000 });
  await expect(alert).not.toHaveText(/no reason given/);
  await expect(alert.getByRole('button', { name: 'Retry' })).toBeVisible();
});
