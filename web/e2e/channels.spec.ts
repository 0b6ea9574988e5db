// Channels from the user's side: the channel page and its subscribe button, the watch page's
// channel block, My channels (create, edit), the upload form's channel picker, the
// subscriptions page, and names full of markup rendering as text.

import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from '@playwright/test';
import { test, expect, apiUser, signInUI, uniqueName, checkA11y, screenshots, PASSWORD } from './fixtures';
import { uploadVideo, waitReady } from './global-setup';
import type { E2eEnv } from './env';

/** A fresh user, registered through the API: their name (also their default channel's handle)
 * and token. Lowercase: a handle is `[a-z0-9_.]`. */
async function user(env: E2eEnv, prefix: string): Promise<{ name: string; token: string }> {
  const name = uniqueName(prefix).toLowerCase();
  return { name, token: await apiUser(env, name, PASSWORD) };
}

async function api(env: E2eEnv, token: string, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${env.server}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
}

function subscribeButton(page: Page) {
  return page.getByRole('button', { name: /^Subscribe/ });
}

test('a channel page: name, handle, counts and videos; Subscribe moves the count and survives a reload', async ({ page, env, consoleLog }, testInfo) => {
  const creator = await user(env, 'chpage');
  const title = `On the channel ${creator.name}`;
  const id = await uploadVideo(env.server, creator.token, env.clips.tiny, { title, visibility: 'public' });
  await waitReady(env.server, creator.token, id);
  const viewer = await user(env, 'chview');

  // Anonymous: the page, and a sign-in link instead of the button.
  await page.goto(`/c/${creator.name}`);
  await expect(page.getByRole('heading', { level: 1, name: creator.name })).toBeVisible();
  await expect(page.getByText(`@${creator.name}`)).toBeVisible();
  await expect(page.getByText('0 subscribers')).toBeVisible();
  await expect(page.getByText('1 video', { exact: true })).toBeVisible();
  await expect(page.getByRole('link', { name: 'Sign in to subscribe' })).toBeVisible();
  const videos = page.getByRole('list', { name: 'Channel videos' });
  await expect(async () => {
    await page.reload();
    await expect(videos.getByRole('link', { name: title })).toBeVisible({ timeout: 2_000 });
  }).toPass({ timeout: 30_000 });

  await signInUI(page, viewer.name, PASSWORD, `/c/${creator.name}`);
  const button = subscribeButton(page);
  await expect(button).toHaveAttribute('aria-pressed', 'false');
  await button.click();
  await expect(button).toHaveAttribute('aria-pressed', 'true');
  await expect(button).toHaveText('Subscribed');
  await expect(page.getByText('1 subscriber', { exact: true })).toBeVisible();
  await checkA11y(page, 'a channel page');
  await screenshots(page, 'channel', testInfo);

  await page.reload();
  await expect(subscribeButton(page)).toHaveAttribute('aria-pressed', 'true');
  await expect(page.getByText('1 subscriber', { exact: true })).toBeVisible();
  const subs = (await (await api(env, viewer.token, 'GET', '/api/v1/users/me/subscriptions')).json()) as { items: { channel: { handle: string } }[] };
  expect(subs.items.map((s) => s.channel.handle)).toEqual([creator.name]);

  // Unsubscribe, and it stays so.
  await subscribeButton(page).click();
  await expect(subscribeButton(page)).toHaveAttribute('aria-pressed', 'false');
  await expect(page.getByText('0 subscribers')).toBeVisible();
  await page.reload();
  await expect(subscribeButton(page)).toHaveAttribute('aria-pressed', 'false');

  // A channel that does not exist.
  consoleLog.allow(/no\.such\.channel\.here: Failed to load resource: the server responded with a status of 404/);
  await page.goto('/c/no.such.channel.here');
  await expect(page.getByRole('heading', { name: 'No such channel' })).toBeVisible();
});

test('the watch page shows the channel under the player, with a subscribe button', async ({ page, env }) => {
  const creator = await user(env, 'chwatch');
  const id = await uploadVideo(env.server, creator.token, env.clips.tiny, { title: 'Channel block', visibility: 'public' });
  await waitReady(env.server, creator.token, id);
  const viewer = await user(env, 'chwview');
  await signInUI(page, viewer.name, PASSWORD, `/watch/${id}`);
  const block = page.getByRole('region', { name: 'Channel' });
  await expect(block.getByRole('link', { name: creator.name })).toHaveAttribute('href', `/c/${creator.name}`);
  await expect(block.getByText('0 subscribers')).toBeVisible();
  await block.getByRole('button', { name: /^Subscribe/ }).click();
  await expect(block.getByText('1 subscriber', { exact: true })).toBeVisible();
  await page.reload();
  await expect(block.getByRole('button', { name: /^Subscribe/ })).toHaveAttribute('aria-pressed', 'true');
});

test('My channels: create a channel (a taken or malformed handle says why), edit it, upload to it with the picker', async ({ page, env, consoleLog }) => {
  const owner = await user(env, 'chmine');
  await signInUI(page, owner.name, PASSWORD, '/me/channels');
  const list = page.getByRole('list', { name: 'My channels' });
  await expect(list.getByRole('listitem')).toHaveCount(1);
  await expect(list.getByText('default channel')).toBeVisible();
  await checkA11y(page, 'My channels');

  const form = page.getByRole('form', { name: 'New channel' });
  // Malformed: the field says so before anything is sent.
  await form.getByLabel('Handle').fill('Not A Handle!');
  await expect(form.getByLabel('Handle')).toHaveAttribute('aria-invalid', 'true');
  await form.getByRole('button', { name: 'Create channel' }).click();
  expect(await form.getByLabel('Handle').evaluate((i: HTMLInputElement) => i.validity.valid)).toBe(false);
  // Taken: the handle of the user's own default channel; the server's 409 says why.
  consoleLog.allow(/status of 409 \(Conflict\)/);
  await form.getByLabel('Handle').fill(owner.name);
  await form.getByRole('button', { name: 'Create channel' }).click();
  await expect(form.getByRole('alert')).toContainText(/taken/i);
  await expect(list.getByRole('listitem')).toHaveCount(1);
  const handle = `${owner.name.slice(0, 24)}.films`;
  await form.getByLabel('Handle').fill(handle);
  await form.getByLabel('Display name').fill('Films & <i>things</i>');
  await form.getByLabel('Description').fill('Short films.\n<script>window.__xss=1</script>');
  await form.getByRole('button', { name: 'Create channel' }).click();
  await expect(list.getByRole('listitem')).toHaveCount(2);
  const row = list.getByRole('listitem', { name: 'Films & <i>things</i>' });
  await expect(row).toContainText(`@${handle}`);

  await row.getByRole('button', { name: 'Edit Films & <i>things</i>' }).click();
  const dialog = page.getByRole('dialog', { name: `Edit @${handle}` });
  await dialog.getByLabel('Display name').fill('Films "and" <b>more</b>');
  await dialog.getByRole('button', { name: 'Save' }).click();
  await expect(dialog).toBeHidden();
  await page.reload();
  await expect(list.getByRole('listitem', { name: 'Films "and" <b>more</b>' })).toBeVisible();

  // The channel page shows the markup as text, and nothing runs.
  await list.getByRole('link', { name: 'Films "and" <b>more</b>' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Films "and" <b>more</b>' })).toBeVisible();
  await expect(page.getByRole('region', { name: 'About the channel' })).toHaveText('Short films.\n<script>window.__xss=1</script>');
  expect(await page.locator('main b, main i, main script').count()).toBe(0);
  expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
  await expect(page).toHaveTitle('Films "and" <b>more</b> · troupe');

  // The upload form offers both channels; the video goes to the one picked.
  await page.goto('/upload');
  await page.getByLabel('Choose a video file').setInputFiles(env.clips.tiny);
  const picker = page.getByLabel('Channel');
  await expect(picker.locator('option')).toHaveCount(2);
  await picker.selectOption(handle);
  await page.getByLabel('Title').fill('Into the second channel');
  await page.getByRole('button', { name: 'Upload', exact: true }).click();
  await expect(page.getByText('Your video is ready.')).toBeVisible({ timeout: 120_000 });
  await page.getByRole('link', { name: 'Watch it' }).click();
  const block = page.getByRole('region', { name: 'Channel' });
  await expect(block.getByRole('link', { name: 'Films "and" <b>more</b>' })).toHaveAttribute('href', `/c/${handle}`);
  await page.goto(`/c/${handle}`);
  await expect(page.getByText('1 video', { exact: true })).toBeVisible();
  await expect(async () => {
    await page.reload();
    await expect(page.getByRole('list', { name: 'Channel videos' }).getByRole('link', { name: 'Into the second channel' })).toBeVisible({ timeout: 2_000 });
  }).toPass({ timeout: 30_000 });
  await page.goto(`/c/${owner.name}`);
  await expect(page.getByText('0 videos', { exact: true })).toBeVisible();
  await expect(page.getByText('No videos yet.')).toBeVisible();
});

test('the subscriptions page lists the channels the user subscribes to', async ({ page, env }) => {
  const creator = await user(env, 'chsubs');
  const viewer = await user(env, 'chsview');
  await signInUI(page, viewer.name, PASSWORD, '/me/subscriptions');
  await expect(page.getByText('You subscribe to no channel yet.')).toBeVisible();
  const put = await api(env, viewer.token, 'PUT', `/api/v1/users/me/subscriptions/${creator.name}`);
  expect(put.status).toBe(200);
  await page.reload();
  const link = page.getByRole('list', { name: 'Subscribed channels' }).getByRole('link', { name: creator.name });
  await expect(link).toHaveAttribute('href', `/c/${creator.name}`);
  await link.click();
  await expect(subscribeButton(page)).toHaveAttribute('aria-pressed', 'true');
});

test('the subscriptions feed shows a new video of a subscribed channel', async ({ page, env }) => {
  const creator = await user(env, 'chfeed');
  const viewer = await user(env, 'chfview');
  const put = await api(env, viewer.token, 'PUT', `/api/v1/users/me/subscriptions/${creator.name}`);
  expect(put.status).toBe(200);
  const title = `Fresh from ${creator.name}`;
  const id = await uploadVideo(env.server, creator.token, env.clips.tiny, { title, visibility: 'public' });
  await waitReady(env.server, creator.token, id);

  await signInUI(page, viewer.name, PASSWORD, '/me/subscriptions');
  const feed = page.getByRole('list', { name: 'New videos from your subscriptions' });
  await expect(async () => {
    await page.reload();
    await expect(feed.getByRole('link', { name: title })).toBeVisible({ timeout: 2_000 });
  }).toPass({ timeout: 30_000 });
  await feed.getByRole('link', { name: title }).click();
  await expect(page.getByRole('heading', { level: 1, name: title })).toBeVisible();
});

test('My channels: an uploaded avatar shows on the channel page, and a file that is not an image says why', async ({ page, env, consoleLog }) => {
  const owner = await user(env, 'chavatar');
  // A real image, made by ffmpeg.
  const png = join(tmpdir(), `${owner.name}.png`);
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=320x240', '-frames:v', '1', png]);
  await signInUI(page, owner.name, PASSWORD, '/me/channels');
  const row = page.getByRole('list', { name: 'My channels' }).getByRole('listitem');
  await row.getByRole('button', { name: /^Edit / }).click();
  const dialog = page.getByRole('dialog', { name: `Edit @${owner.name}` });

  // Not an image: the server refuses it, and the dialog says so.
  consoleLog.allow(/status of 415 \(Unsupported Media Type\)/);
  await dialog.getByLabel('Upload an image').setInputFiles(env.clips.notVideo);
  await expect(dialog.getByRole('alert')).toBeVisible();
  await expect(dialog.getByRole('button', { name: 'Remove avatar' })).toHaveCount(0);

  await dialog.getByLabel('Upload an image').setInputFiles(png);
  await expect(dialog.getByRole('button', { name: 'Remove avatar' })).toBeVisible();
  const img = dialog.locator('img.avatar');
  await expect(img).toHaveAttribute('src', new RegExp(`^/api/v1/channels/${owner.name}/avatar/192\\.jpg`));
  // The image the server scaled loads.
  await expect.poll(() => img.evaluate((i: HTMLImageElement) => i.complete && i.naturalWidth)).toBe(192);
  await dialog.getByRole('button', { name: 'Cancel' }).click();

  await page.goto(`/c/${owner.name}`);
  await expect(page.locator('main img.avatar')).toHaveAttribute('src', /\/avatar\/192\.jpg/);
  await expect.poll(() => page.locator('main img.avatar').evaluate((i: HTMLImageElement) => i.complete && i.naturalWidth)).toBe(192);
});
