// Notifications from the user's side: the bell's unread count moves live (no reload) when a
// channel the user subscribes to publishes, the notifications page says what happened (names
// and titles as text) and marks read, and a type turned off in the settings brings nothing.

import type { Page } from '@playwright/test';
import { test, expect, apiUser, signInUI, uniqueName, checkA11y, screenshots, PASSWORD } from './fixtures';
import { uploadVideo, waitReady } from './global-setup';
import type { E2eEnv } from './env';

async function user(env: E2eEnv, prefix: string): Promise<{ name: string; token: string }> {
  const name = uniqueName(prefix).toLowerCase();
  return { name, token: await apiUser(env, name, PASSWORD) };
}

/** How many new-video notifications the server dropped because their type was off
 * (`troupe_notifications_delivered_total{outcome="off"}` on /metrics). */
async function droppedAsOff(env: E2eEnv): Promise<number> {
  const text = await (await fetch(`${env.server}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('troupe_notifications_delivered_total{') && l.includes('outcome="off"') && l.includes('type="new_video_from_subscription"'))
    .reduce((sum, l) => sum + Number(l.trim().split(/\s+/).pop()), 0);
}

function bell(page: Page) {
  return page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /^Notifications/ });
}

test('A subscribes to B’s channel, B publishes, and A’s bell counts it without a reload', async ({ page, env }, testInfo) => {
  const b = await user(env, 'nfb');
  const a = await user(env, 'nfa');
  // B's channel name is full of markup: it must show as text.
  const name = `B's <b>bold</b> "channel"`;
  const patch = await fetch(`${env.server}/api/v1/channels/${b.name}`, {
    method: 'PATCH',
    headers: { Authorization: `Bearer ${b.token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ display_name: name }),
  });
  expect(patch.status).toBe(200);

  await signInUI(page, a.name, PASSWORD, `/c/${b.name}`);
  await page.getByRole('button', { name: /^Subscribe/ }).click();
  await expect(page.getByRole('button', { name: /^Subscribe/ })).toHaveAttribute('aria-pressed', 'true');
  await expect(bell(page)).toHaveAccessibleName('Notifications');
  const loads: string[] = [];
  page.on('framenavigated', (f) => {
    if (f === page.mainFrame()) loads.push(f.url());
  });

  // B publishes (through the API, as another browser would).
  const title = `<img src=x onerror="window.__xss=1"> New from B ${b.name}`;
  const id = await uploadVideo(env.server, b.token, env.clips.tiny, { title, visibility: 'public' });
  await waitReady(env.server, b.token, id);

  // The bell moves on A's page, which did not reload.
  await expect(bell(page)).toHaveAccessibleName('Notifications, 1 unread', { timeout: 15_000 });
  expect(loads).toEqual([]);

  await bell(page).click();
  const list = page.getByRole('list', { name: 'Notifications' });
  const item = list.getByRole('listitem').first();
  await expect(item).toContainText(`${name} published ${title}`);
  await expect(item.getByRole('link', { name: title })).toHaveAttribute('href', `/watch/${id}`);
  await expect(item.getByRole('link', { name })).toHaveAttribute('href', `/c/${b.name}`);
  expect(await page.locator('main b, main img[src="x"]').count()).toBe(0);
  expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
  await checkA11y(page, 'the notifications page');
  await screenshots(page, 'notifications', testInfo);

  await item.getByRole('button', { name: 'Mark as read' }).click();
  await expect(bell(page)).toHaveAccessibleName('Notifications', { timeout: 10_000 });
  await page.reload();
  await expect(list.getByRole('listitem').first().getByRole('button', { name: 'Mark as read' })).toHaveCount(0);
});

test('a type turned off in the settings brings nothing; on again, it does', async ({ page, env }) => {
  const b = await user(env, 'nsb');
  const a = await user(env, 'nsa');
  const put = await fetch(`${env.server}/api/v1/users/me/subscriptions/${b.name}`, { method: 'PUT', headers: { Authorization: `Bearer ${a.token}` } });
  expect(put.status).toBe(200);

  await signInUI(page, a.name, PASSWORD, '/me/notifications/settings');
  const box = page.getByRole('checkbox', { name: 'New videos from channels I subscribe to' });
  await expect(box).toBeChecked();
  await box.uncheck();
  await expect(page.getByText('Saved.')).toBeVisible();
  await expect(box).toBeEnabled();
  await page.reload();
  await expect(box).not.toBeChecked();

  const dropped = await droppedAsOff(env);
  const first = await uploadVideo(env.server, b.token, env.clips.tiny, { title: 'Not announced', visibility: 'public' });
  await waitReady(env.server, b.token, first);
  // The fan-out runs after the publish: wait until it reached A and dropped it, before turning
  // the type on again.
  await expect.poll(() => droppedAsOff(env), { timeout: 30_000 }).toBeGreaterThan(dropped);
  await box.check();
  await expect(page.getByText('Saved.')).toBeVisible();
  const second = await uploadVideo(env.server, b.token, env.clips.tiny, { title: 'Announced', visibility: 'public' });
  await waitReady(env.server, b.token, second);

  await expect(bell(page)).toHaveAccessibleName('Notifications, 1 unread', { timeout: 15_000 });
  await page.goto('/me/notifications');
  const list = page.getByRole('list', { name: 'Notifications' });
  await expect(list.getByRole('listitem')).toHaveCount(1);
  await expect(list.getByRole('listitem')).toContainText('Announced');
  await page.getByRole('button', { name: 'Mark all as read' }).click();
  await expect(bell(page)).toHaveAccessibleName('Notifications');
});
