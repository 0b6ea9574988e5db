import { test, expect, expectPlaying } from './fixtures';

test('an anonymous viewer plays a public video', async ({ page, env }) => {
  await page.goto(`/watch/${env.videos.public}`);
  await expect(page.getByRole('heading', { name: 'Public test pattern', level: 1 })).toBeVisible();
  await expectPlaying(page);
  await expect(page.getByRole('link', { name: 'Sign in to rate' })).toBeVisible();
  // The device id is stable and random, kept in localStorage.
  const device = await page.evaluate(() => localStorage.getItem('troupe.device_id'));
  expect(device).toMatch(/^web-[0-9a-f]{24}$/);
});

test('a private video gives a clear page to an anonymous viewer', async ({ page, env, consoleLog }) => {
  consoleLog.allow(/status of 404/);
  await page.goto(`/watch/${env.videos.private}`);
  await expect(page.getByRole('heading', { name: 'This video is not available' })).toBeVisible();
  await expect(page.getByText('It is private, or it was deleted')).toBeVisible();
  await expect(page.getByRole('main').getByRole('link', { name: 'sign in' })).toHaveAttribute('href', `/signin?next=${encodeURIComponent(`/watch/${env.videos.private}`)}`);
});

test('an unknown path gives the not-found page', async ({ page }) => {
  await page.goto('/no/such/page');
  await expect(page.getByRole('heading', { name: 'Page not found' })).toBeVisible();
});
