// Accounts from the user's side (issue 24), with the mail as the SMTP sink (aiosmtpd) received
// it: forgot and reset the password from the mailed link (the token leaves the address bar, no
// Referer goes out, the link works once, every old login ends), confirm the address from the
// banner's resent link, change the password and the address, export the data and download it,
// delete the account and cancel, and the admin's view (address confirmed, delete at once).

import type { Page } from '@playwright/test';
import { test, expect, apiLogin, apiUser, checkA11y, screenshots, signInUI, signUpUI, uniqueName, PASSWORD } from './fixtures';
import { linkIn, mailsTo, waitForMail } from './mail';
import type { E2eEnv } from './env';

const NEW_PASSWORD = 'juniper-lantern-quartz-77';

async function freshUser(env: E2eEnv, prefix: string): Promise<{ name: string; email: string; token: string }> {
  const name = uniqueName(prefix).toLowerCase();
  return { name, email: `${name}@example.org`, token: await apiUser(env, name) };
}

/** A refresh token from a bearer login (as an app or another device holds one). */
async function refreshToken(env: E2eEnv, username: string, password = PASSWORD): Promise<string> {
  const r = await fetch(`${env.server}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  expect(r.status).toBe(200);
  return ((await r.json()) as { refresh_token: string }).refresh_token;
}

async function refreshStatus(env: E2eEnv, token: string): Promise<number> {
  const r = await fetch(`${env.server}/api/v1/auth/refresh`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ refresh_token: token }),
  });
  await r.body?.cancel();
  return r.status;
}

function accountLink(page: Page) {
  return page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Account' });
}

test('forgot password: the mailed link sets a new one, once, and every old login ends', async ({ page, env, consoleLog }, testInfo) => {
  consoleLog.allow(/status of 422/); // the weak password
  consoleLog.allow(/status of 410/); // the used link
  const u = await freshUser(env, 'reset');
  const oldRefresh = await refreshToken(env, u.name);

  await page.goto('/signin');
  await page.getByRole('link', { name: 'Forgot your password?' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Forgot your password?' })).toBeVisible();
  await page.getByLabel('Email').fill(u.email);
  await page.getByRole('button', { name: 'Send the link' }).click();
  await expect(page.getByRole('status').filter({ hasText: u.email })).toContainText('a link to set a new password is on its way');
  await checkA11y(page, 'forgot password, sent');
  await screenshots(page, 'forgot-password-sent', testInfo);

  // An address nobody has gets the very same answer.
  await page.getByRole('button', { name: 'Ask again' }).click();
  await page.getByLabel('Email').fill(`nobody-${u.name}@example.org`);
  await page.getByRole('button', { name: 'Send the link' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'nobody-' })).toContainText('a link to set a new password is on its way');

  const mail = await waitForMail(env, u.email, (m) => m.text.includes('/reset-password?token='));
  const link = linkIn(mail, '/reset-password');
  expect(mail.html).toContain('reset-password?token=');

  // Whatever the page sends carries no Referer (the address had the token).
  const referers: (string | undefined)[] = [];
  page.on('request', (r) => {
    if (r.url().includes('/api/v1/auth/password-reset/confirm')) referers.push(r.headers()['referer']);
  });
  await page.goto(link);
  await expect(page.getByRole('heading', { level: 1, name: 'Set a new password' })).toBeVisible();
  await expect(page).toHaveURL(/\/reset-password$/);
  expect(await page.locator('meta[name="referrer"]').last().getAttribute('content')).toBe('no-referrer');
  await checkA11y(page, 'reset password');
  await screenshots(page, 'reset-password', testInfo);

  // Too weak: the server's reason, and the link still works.
  await page.getByLabel('New password', { exact: true }).fill('abc');
  await page.getByLabel('Repeat the new password').fill('abc');
  await page.getByRole('button', { name: 'Set the password' }).click();
  await expect(page.getByRole('alert')).toBeVisible();
  await expect(page.getByRole('heading', { level: 1, name: 'Set a new password' })).toBeVisible();

  await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
  await page.getByLabel('Repeat the new password').fill(NEW_PASSWORD);
  await page.getByRole('button', { name: 'Set the password' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Password changed' })).toBeVisible();
  expect(referers.length).toBeGreaterThanOrEqual(2);
  // Chromium reports an absent Referer as an empty header here: either way no URL left the page.
  expect(referers.filter((r) => r !== undefined && r !== ''), 'no Referer on the confirm calls').toEqual([]);
  await screenshots(page, 'reset-password-done', testInfo);

  // The old login is over; the old password too; the link works once.
  expect(await refreshStatus(env, oldRefresh)).toBe(401);
  const oldLogin = await fetch(`${env.server}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: u.name, password: PASSWORD }),
  });
  expect(oldLogin.status).toBe(401);
  await page.goto(link);
  await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD + 'x');
  await page.getByLabel('Repeat the new password').fill(NEW_PASSWORD + 'x');
  await page.getByRole('button', { name: 'Set the password' }).click();
  await expect(page.getByRole('alert')).toContainText('used already');
  await expect(page.getByRole('link', { name: 'Ask for a new link' })).toBeVisible();

  await signInUI(page, u.name, NEW_PASSWORD);
  await expect(accountLink(page)).toBeVisible();
  // And the user is told by mail that the password changed (a mail that is neither the
  // verification nor the reset).
  await waitForMail(env, u.email, (m) => !m.text.includes('token=') && m.key !== mail.key);
});

test('a new account sees the banner, gets the link again, and confirms the address', async ({ page, env }, testInfo) => {
  const name = uniqueName('verify').toLowerCase();
  const email = `${name}@example.org`;
  await signUpUI(page, name);
  const banner = page.getByRole('region', { name: 'Confirm your address' });
  await expect(banner).toContainText(email);
  await checkA11y(page, 'verification banner');
  await screenshots(page, 'verify-banner', testInfo);

  await waitForMail(env, email, (m) => m.text.includes('token='));
  await banner.getByRole('button', { name: 'Send the link again' }).click();
  await expect(banner.getByRole('status')).toContainText('Sent');
  await expect.poll(() => mailsTo(env, email).filter((m) => m.text.includes('token=')).length, { timeout: 30_000 }).toBeGreaterThanOrEqual(2);
  const newest = mailsTo(env, email).filter((m) => m.text.includes('token=')).pop()!;
  const link = linkIn(newest, '/verify-email');

  await page.goto(link);
  await expect(page.getByRole('status').filter({ hasText: 'Your address is confirmed' })).toBeVisible();
  await expect(page).toHaveURL(/\/verify-email$/);
  await screenshots(page, 'verify-done', testInfo);
  await page.goto('/account');
  await expect(page.getByRole('heading', { level: 1, name: 'Account' })).toBeVisible();
  await expect(page.getByRole('region', { name: 'Confirm your address' })).toHaveCount(0);
  await expect(page.getByText(`Your account uses ${email} (confirmed).`)).toBeVisible();
});

test('account settings: change the password, then the address (pending until confirmed)', async ({ page, env, consoleLog }, testInfo) => {
  consoleLog.allow(/status of 403/); // the wrong current password
  const u = await freshUser(env, 'acct');
  await signInUI(page, u.name, PASSWORD, '/account');
  await expect(page.getByRole('heading', { level: 1, name: 'Account' })).toBeVisible();
  await checkA11y(page, 'account page');
  await screenshots(page, 'account-settings', testInfo);

  const pw = page.getByRole('region', { name: 'Password' });
  await pw.getByLabel('Current password').fill('not-my-password-at-all');
  await pw.getByLabel('New password').fill(NEW_PASSWORD);
  await pw.getByRole('button', { name: 'Change the password' }).click();
  await expect(pw.getByRole('alert')).toBeVisible();
  await pw.getByLabel('Current password').fill(PASSWORD);
  await pw.getByLabel('New password').fill(NEW_PASSWORD);
  await pw.getByRole('button', { name: 'Change the password' }).click();
  await expect(pw.getByRole('status').filter({ hasText: 'Password changed' })).toBeVisible();
  await apiLogin(env, u.name, NEW_PASSWORD);

  const em = page.getByRole('region', { name: 'Email address' });
  const next = `new-${u.name}@example.org`;
  await em.getByLabel('New address').fill(next);
  await em.getByLabel('Current password').fill(NEW_PASSWORD);
  await em.getByRole('button', { name: 'Change the address' }).click();
  await expect(em.getByRole('status')).toContainText(`we sent a link to ${next}`);
  await expect(em).toContainText(`Your account uses ${u.email}`);
  await screenshots(page, 'account-email-pending', testInfo);

  const confirm = await waitForMail(env, next, (m) => m.text.includes('token='));
  await page.goto(linkIn(confirm, '/confirm-email'));
  await expect(page.getByRole('status').filter({ hasText: 'Your account now uses this address' })).toBeVisible();
  await page.goto('/account');
  await expect(page.getByRole('region', { name: 'Email address' })).toContainText(`Your account uses ${next}`);
  // The old address was told, with a way back.
  const notice = await waitForMail(env, u.email, (m) => m.text.includes('/undo-email-change'));
  expect(linkIn(notice, '/undo-email-change')).toContain('token=');
});

test('export my data: prepared in the background, then downloaded as JSON', async ({ page, env }, testInfo) => {
  const u = await freshUser(env, 'export');
  await signInUI(page, u.name, PASSWORD, '/account');
  const ex = page.getByRole('region', { name: 'Export my data' });
  await ex.getByRole('button', { name: 'Prepare an export' }).click();
  const download = ex.getByRole('link', { name: 'Download my data (JSON)' });
  await expect(download).toBeVisible({ timeout: 60_000 });
  await expect(ex).toContainText('Ready');
  await expect(ex).toContainText('Link expires');
  await screenshots(page, 'account-export', testInfo);
  const [file] = await Promise.all([page.waitForEvent('download'), download.click()]);
  const path = await file.path();
  const { readFileSync } = await import('node:fs');
  const archive = JSON.parse(readFileSync(path, 'utf8')) as unknown;
  expect(JSON.stringify(archive)).toContain(u.name);
  // The mail says so too.
  await waitForMail(env, u.email, (m) => /export/i.test(m.subject + m.text));
});

test('delete my account: with the password, a date, cancel; signing in again cancels too', async ({ page, env, consoleLog }, testInfo) => {
  consoleLog.allow(/status of 403/); // the wrong password
  consoleLog.allow(/status of 401/); // the refresh after every login was revoked
  const u = await freshUser(env, 'delme');
  await signInUI(page, u.name, PASSWORD, '/account');
  const del = page.getByRole('region', { name: 'Delete my account' });
  await del.getByRole('button', { name: 'Delete my account…' }).click();
  await del.getByLabel('Your password, to confirm').fill('wrong-password-here');
  await del.getByRole('button', { name: 'Delete my account', exact: true }).click();
  await expect(del.getByRole('alert')).toBeVisible();
  await del.getByLabel('Your password, to confirm').fill(PASSWORD);
  await del.getByRole('button', { name: 'Delete my account', exact: true }).click();
  await expect(del.getByRole('status').filter({ hasText: 'Your account will be deleted on' })).toBeVisible();
  await screenshots(page, 'account-delete-scheduled', testInfo);
  const meOf = async () => {
    const r = await fetch(`${env.server}/api/v1/users/me`, { headers: { Authorization: `Bearer ${await apiLogin(env, u.name)}` } });
    return ((await r.json()) as { deletion_scheduled_at?: string | null }).deletion_scheduled_at ?? null;
  };
  // Cancel, on the same page.
  await del.getByRole('button', { name: 'Cancel the deletion' }).click();
  await expect(del.getByRole('status').filter({ hasText: 'The deletion is cancelled' })).toBeVisible();

  // Again; every login ended, so a reload asks to sign in, and signing in cancels it.
  await signInUI(page, u.name, PASSWORD, '/account');
  await page.getByRole('region', { name: 'Delete my account' }).getByRole('button', { name: 'Delete my account…' }).click();
  await page.getByLabel('Your password, to confirm').fill(PASSWORD);
  await page.getByRole('button', { name: 'Delete my account', exact: true }).click();
  await expect(page.getByRole('region', { name: 'Delete my account' }).getByRole('status').filter({ hasText: 'Your account will be deleted on' })).toBeVisible();
  await page.reload();
  await expect(page.getByRole('link', { name: 'Sign in' }).first()).toBeVisible();
  await signInUI(page, u.name, PASSWORD, '/account');
  await expect(page.getByRole('region', { name: 'Delete my account' }).getByRole('button', { name: 'Delete my account…' })).toBeVisible();
  expect(await meOf()).toBeNull();
});

test('the admin sees whether an address is confirmed, overrides it, and deletes an account at once', async ({ page, env, consoleLog }, testInfo) => {
  consoleLog.allow(/status of 401/); // the deleted account's sign-in
  const u = await freshUser(env, 'admdel');
  await signInUI(page, env.admin.username, env.admin.password, '/admin');
  await page.getByLabel('Find a user').fill(u.name);
  await page.getByRole('button', { name: 'Find' }).click();
  const sw = page.getByRole('switch', { name: `Email confirmed: ${u.name}` });
  await expect(sw).not.toBeChecked();
  await sw.check();
  await expect(sw).toBeChecked();
  const view = await fetch(`${env.server}/api/v1/admin/users/${u.name}`, { headers: { Authorization: `Bearer ${await apiLogin(env, env.admin.username, env.admin.password)}` } });
  expect(((await view.json()) as { email_verified?: boolean }).email_verified).toBe(true);
  await screenshots(page, 'admin-users', testInfo);

  await page.getByRole('button', { name: `Delete ${u.name}`, exact: true }).click();
  await page.getByLabel(`Why delete ${u.name}`).fill('spam account, e2e');
  await page.getByRole('button', { name: `Delete ${u.name} now` }).click();
  await expect(page.getByRole('status').filter({ hasText: `Deleted ${u.name}` })).toBeVisible();
  const login = await fetch(`${env.server}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: u.name, password: PASSWORD }),
  });
  expect(login.status).toBe(401);
  // The reason is in the audit log.
  await page.goto('/moderation/audit');
  await expect(page.getByText('spam account, e2e')).toBeVisible();
});
