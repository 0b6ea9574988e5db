import { test, expect, apiUser, signInUI, uniqueName, expectPlaying } from './fixtures';

async function qualities(page: import('@playwright/test').Page): Promise<string[]> {
  const select = page.getByLabel('Quality');
  await expect(select).toBeVisible({ timeout: 45_000 });
  return select.locator('option').allTextContents();
}

test('an admin changes a user’s plan and that user’s quality menu changes on the next session', async ({ page, env, newUserContext }) => {
  const name = uniqueName('plan');
  await apiUser(env, name);
  const url = `/watch/${env.videos.public}`;

  const user = await (await newUserContext()).newPage();
  await signInUI(user, name, undefined, url);
  await expectPlaying(user);
  const before = await qualities(user);
  // free: up to 480p of the 720p clip's 240/360/480/720 ladder.
  expect(before).toEqual(['Auto', '480p', '360p', '240p']);

  await signInUI(page, env.admin.username, env.admin.password, '/admin');
  await expect(page.getByRole('heading', { name: 'Admin', level: 1 })).toBeVisible();
  await page.getByLabel('Find a user').fill(name);
  await page.getByRole('button', { name: 'Find' }).click();
  await page.getByLabel(`Plan for ${name}`).first().selectOption('premium');
  await page.getByRole('button', { name: `Set plan for ${name}` }).first().click();
  await expect(page.getByText('Saved')).toBeVisible();

  // The next session (a new page load) offers 720p too.
  await user.reload();
  await expectPlaying(user);
  const after = await qualities(user);
  expect(after).toEqual(['Auto', '720p', '480p', '360p', '240p']);

  // Choosing a level switches to it.
  await user.getByLabel('Quality').selectOption({ label: '720p' });
  await expect.poll(() => user.evaluate(() => document.querySelector('video')?.videoHeight ?? 0), { timeout: 30_000 }).toBe(720);
});
