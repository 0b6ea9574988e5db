// Email in the notification settings (issue 24): per type off / at once / daily digest, saved at
// once; the digest's hour and time zone (the browser's zone first); an instant mail really
// arrives at the SMTP sink, and its one-click unsubscribe link turns that type's email off.

import { test, expect, apiUser, checkA11y, screenshots, signInUI, uniqueName, PASSWORD } from './fixtures';
import { uploadVideo, waitReady } from './global-setup';
import { waitForMail } from './mail';
import type { E2eEnv } from './env';

test.use({ timezoneId: 'Europe/Berlin' });

async function settingsOf(env: E2eEnv, token: string): Promise<Record<string, unknown>> {
  const r = await fetch(`${env.server}/api/v1/users/me/notification-settings`, { headers: { Authorization: `Bearer ${token}` } });
  expect(r.status).toBe(200);
  return (await r.json()) as Record<string, unknown>;
}

test('email per type and the digest time are saved; an instant mail arrives and unsubscribes in one click', async ({ page, env, consoleLog }, testInfo) => {
  // The unsubscribe page is the server's own, not the console: it names no icon, so the
  // browser's guess (/favicon.ico) is a 404 there.
  consoleLog.allow(/\/api\/v1\/unsubscribe\/\S+: Failed to load resource: the server responded with a status of 404/);
  const name = uniqueName('mailset').toLowerCase();
  const email = `${name}@example.org`;
  const token = await apiUser(env, name);
  await signInUI(page, name, PASSWORD, '/me/notifications/settings');
  await expect(page.getByRole('heading', { level: 1, name: 'Notification settings' })).toBeVisible();

  const ready = page.getByRole('combobox', { name: 'By email: My video is ready' });
  await expect(ready).toHaveValue('off');
  await ready.selectOption('instant');
  await expect(page.getByRole('status').filter({ hasText: 'Saved.' })).toBeVisible();
  const subs = page.getByRole('combobox', { name: 'By email: Someone subscribed to my channel' });
  await subs.selectOption('digest');
  await expect(subs).toHaveValue('digest');

  // The digest: the browser's zone is offered first; the hour and zone are saved together.
  const digest = page.getByRole('region', { name: 'Daily digest' });
  await expect(digest.getByLabel('Time zone')).toHaveValue('Europe/Berlin');
  await digest.getByLabel('Hour').selectOption('21');
  await digest.getByRole('button', { name: 'Save the digest time' }).click();
  await expect(digest).toContainText('Now: 21:00, Europe/Berlin');
  await checkA11y(page, 'notification settings');
  await screenshots(page, 'notification-email-settings', testInfo);

  await page.reload();
  await expect(page.getByRole('combobox', { name: 'By email: My video is ready' })).toHaveValue('instant');
  await expect(page.getByRole('combobox', { name: 'By email: Someone subscribed to my channel' })).toHaveValue('digest');
  await expect(page.getByRole('region', { name: 'Daily digest' })).toContainText('Now: 21:00, Europe/Berlin');
  await page.getByRole('region', { name: 'Daily digest' }).getByLabel('Time zone').selectOption('America/New_York');
  await page.getByRole('region', { name: 'Daily digest' }).getByRole('button', { name: 'Save the digest time' }).click();
  await expect(page.getByRole('region', { name: 'Daily digest' })).toContainText('Now: 21:00, America/New_York');
  const saved = await settingsOf(env, token);
  const digest2 = await fetch(`${env.server}/api/v1/users/me/digest-settings`, { headers: { Authorization: `Bearer ${token}` } });
  expect(await digest2.json()).toMatchObject({ digest_hour: 21, time_zone: 'America/New_York' });
  expect((saved.my_video_ready as { email: string }).email).toBe('instant');
  expect((saved.new_subscriber as { email: string }).email).toBe('digest');

  // The user's video gets ready: a mail at once, with a one-click unsubscribe link.
  const id = await uploadVideo(env.server, token, env.clips.tiny, { title: `Mail me ${name}`, visibility: 'public' });
  await waitReady(env.server, token, id);
  const mail = await waitForMail(env, email, (m) => !!m.headers['list-unsubscribe'], 60_000);
  expect(mail.headers['list-unsubscribe-post']?.[0]).toBe('List-Unsubscribe=One-Click');
  const unsub = /<(https?:\/\/[^>]+)>/.exec(mail.headers['list-unsubscribe'][0])![1];
  const url = new URL(unsub);
  // The server's own page (GET changes nothing; its button does).
  await page.goto(url.pathname + url.search);
  expect((await settingsOf(env, token)).my_video_ready).toMatchObject({ email: 'instant' });
  await page.getByRole('button').first().click();
  await expect.poll(async () => ((await settingsOf(env, token)).my_video_ready as { email: string }).email).toBe('off');
  await page.goto('/me/notifications/settings');
  await expect(page.getByRole('combobox', { name: 'By email: My video is ready' })).toHaveValue('off');
  await expect(page.getByRole('combobox', { name: 'By email: Someone subscribed to my channel' })).toHaveValue('digest');
});
