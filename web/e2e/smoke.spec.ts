// The first things a visitor does: look at the home page, sign up, see the account, sign out.
// Sign-out is checked where it matters: the session is gone on the server, not only in the tab.

import { test, expect, revealInLatest, signUpUI, uniqueName } from './fixtures';

test('home lists the public setup video, never the private one, and its card leads to its page', async ({ page, env }) => {
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Latest' })).toBeVisible();
  const latest = page.getByRole('list', { name: 'Latest videos' });
  // Other specs upload videos too: scroll until the setup video shows.
  await revealInLatest(page, 'Public test pattern');
  // The list is there and holds the public one: the private one is left out, not just late.
  await expect(latest.getByRole('link', { name: 'Private test pattern' })).toHaveCount(0);
  await latest.getByRole('link', { name: 'Public test pattern' }).click();
  await expect(page).toHaveURL(`/watch/${env.videos.public}`);
  await expect(page.getByRole('heading', { name: 'Public test pattern', level: 1 })).toBeVisible();
});

test('sign up, see the plan; sign out ends the session: guarded pages ask to sign in, and the old refresh cookie no longer signs anyone in', async ({
  page,
  env,
  consoleLog,
}) => {
  const name = uniqueName('smoke');
  await signUpUI(page, name, '/account');
  await expect(page.getByRole('heading', { name: 'Account', level: 1 })).toBeVisible();
  await expect(page.getByText(name, { exact: true })).toBeVisible();
  await expect(page.getByText('free', { exact: true })).toBeVisible();
  const nav = page.getByRole('navigation', { name: 'Main' });

  // The session survives a reload (the refresh cookie)...
  await page.reload();
  await expect(nav.getByRole('link', { name: 'My videos' })).toBeVisible();
  const cookie = (await page.context().cookies()).find((c) => c.name === 'troupe_refresh');
  expect(cookie, 'the refresh cookie').toBeDefined();

  // ...until the user signs out.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL('/');
  await expect(nav.getByRole('link', { name: 'Sign in' })).toBeVisible();
  await expect(nav.getByRole('link', { name: 'My videos' })).toHaveCount(0);
  expect((await page.context().cookies()).find((c) => c.name === 'troupe_refresh')).toBeUndefined();
  for (const guarded of ['/me/videos', '/upload']) {
    await page.goto(guarded);
    await expect(page).toHaveURL(`/signin?next=${encodeURIComponent(guarded)}`);
    await expect(page.getByRole('heading', { name: 'Sign in', level: 1 })).toBeVisible();
  }

  // The server ended that login: the old cookie is refused...
  const r = await fetch(`${env.server}/api/v1/auth/refresh`, {
    method: 'POST',
    headers: { Cookie: `troupe_refresh=${cookie!.value}`, 'X-Troupe-CSRF': '1' },
  });
  expect(r.status).toBe(401);
  expect(((await r.json()) as { code: string }).code).toBe('invalid_refresh_token');
  // ...and put back into the browser, it does not sign back in on a reload either.
  consoleLog.allow(/status of 401/);
  await page.context().addCookies([cookie!]);
  await page.evaluate(() => localStorage.setItem('troupe.signed_in', '1'));
  await page.goto('/me/videos');
  await expect(page).toHaveURL(`/signin?next=${encodeURIComponent('/me/videos')}`);
  await expect(nav.getByRole('link', { name: 'Sign in' })).toBeVisible();
});
