import { test, expect, apiUser, signInUI, uniqueName, expectPlaying } from './fixtures';

test('a free user on a second device sees the limit dialog, ends the first stream from it, and plays', async ({ page, env, newUserContext, consoleLog }) => {
  // The refused start (429) and the first device's heartbeat on its ended stream (404) are the
  // flow itself; the browser logs both.
  consoleLog.allow(/status of 429/);
  consoleLog.allow(/status of 404/);
  const name = uniqueName('limit');
  await apiUser(env, name);
  const url = `/watch/${env.videos.public}`;

  // Device one plays.
  await signInUI(page, name, undefined, url);
  await expectPlaying(page);
  const first = await page.evaluate(() => localStorage.getItem('troupe.device_id'));

  // Device two: another browser profile, another device id.
  const second = await (await newUserContext()).newPage();
  await signInUI(second, name, undefined, url);
  const dialog = second.getByRole('dialog', { name: 'Too many streams at once' });
  await expect(dialog).toBeVisible();
  await expect(dialog).toContainText('free plan allows 1');
  await expect(dialog.getByRole('link', { name: /read about upgrading/ })).toBeVisible();
  await dialog.getByRole('button', { name: `End the stream on ${first}` }).click();
  await expect(dialog).toBeHidden();
  await expectPlaying(second);

  // Device one learns at its next heartbeat that its stream was ended.
  await expect(page.getByText('This stream was ended')).toBeVisible({ timeout: 30_000 });
});
