import { test, expect, apiUser, revealInLatest, signInUI, uniqueName } from './fixtures';

test('titles, descriptions and tags with <script>, quotes and RTL text render as text', async ({ page, env }) => {
  // Signed in, so that the page works whether or not anonymous playback exists yet.
  const name = uniqueName('xss');
  await apiUser(env, name);
  await signInUI(page, name);
  let dialogs = 0;
  page.on('dialog', (d) => {
    dialogs++;
    void d.dismiss();
  });
  // Other specs upload videos too, so the hostile one may be past the first page.
  const link = await revealInLatest(page, env.xss.title);
  await link.click();
  const h1 = page.getByRole('heading', { level: 1 });
  await expect(h1).toHaveText(env.xss.title);
  await expect(page.getByRole('region', { name: 'Description' })).toHaveText(env.xss.description);
  const tags = page.getByRole('list', { name: 'Tags' });
  for (const t of env.xss.tags) await expect(tags.getByRole('link', { name: `#${t.toLowerCase()}` })).toBeVisible();
  expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
  // No element came out of the user's text.
  expect(await page.locator('main img[src="x"], main b, main script').count()).toBe(0);

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Search' }).click();
  await page.getByRole('combobox', { name: 'Search videos' }).fill('ampersand');
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await expect(page.getByRole('list', { name: 'Search results' }).getByText(env.xss.title)).toBeVisible();
  expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
  expect(dialogs).toBe(0);
  // The document title is text too.
  await page.getByRole('list', { name: 'Search results' }).getByRole('link', { name: env.xss.title }).click();
  await expect(page).toHaveTitle(`${env.xss.title} · troupe`);
});
