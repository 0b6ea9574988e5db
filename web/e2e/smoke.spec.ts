import { test, expect, signUpUI, uniqueName } from './fixtures';

test('home lists the setup videos and search finds by tag', async ({ page, env }) => {
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Latest' })).toBeVisible();
  await expect(page.getByRole('list', { name: 'Latest videos' }).getByRole('link', { name: 'Public test pattern' })).toBeVisible();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Search' }).click();
  await page.getByLabel('Tag').fill('pattern');
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await expect(page).toHaveURL(/\/search\?tag=pattern/);
  await expect(page.getByRole('list', { name: 'Search results' }).getByRole('link', { name: 'Public test pattern' })).toBeVisible();
  void env;
});

test('sign up, then the account page shows the plan', async ({ page }) => {
  const name = uniqueName('smoke');
  await signUpUI(page, name, '/account');
  await expect(page.getByRole('heading', { name: 'Account' })).toBeVisible();
  await expect(page.getByText('free', { exact: true })).toBeVisible();
});
