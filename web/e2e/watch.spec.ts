// The watch page as the channel's shop window: the viewer's own rating after a reload, Share
// (the link, the link at the current time, the /embed snippet that plays on another site), the
// owner's edit in place, and posters of private videos in the owner's lists.

import { createServer, type Server } from 'node:http';
import type { Page } from '@playwright/test';
import { test, expect, apiUser, signInUI, uniqueName, expectPlaying, checkA11y, screenshots } from './fixtures';
import { uploadVideo, waitReady } from './global-setup';

/** Serves `body` as an HTML page on another port of 127.0.0.1: another origin than the console. */
async function otherSite(body: string): Promise<{ url: string; close: () => void }> {
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Another site</title></head><body>
<h1>Another site</h1>
${body}
</body></html>`;
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(html);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}/`, close: () => server.close() };
}

/** The time of the first <video> in the page's frame whose URL holds `part` (or the page). */
async function videoTime(page: Page, part?: string): Promise<number> {
  const f = part ? page.frames().find((x) => x.url().includes(part)) : page.mainFrame();
  return f ? f.evaluate(() => document.querySelector('video')?.currentTime ?? 0) : 0;
}

test('the viewer’s own rating shows after a reload', async ({ page, env }) => {
  const name = uniqueName('rate');
  await apiUser(env, name);
  await signInUI(page, name, undefined, `/watch/${env.videos.public}`);
  const rating = page.getByRole('group', { name: 'Rating' });
  const like = rating.getByRole('button', { name: /^Like/ });
  const dislike = rating.getByRole('button', { name: /^Dislike/ });
  await expect(like).toHaveAttribute('aria-pressed', 'false');
  const likes = Number(await like.locator('.count').innerText());

  await like.click();
  await expect(like).toHaveAttribute('aria-pressed', 'true');
  await expect(like.locator('.count')).toHaveText(String(likes + 1));
  await page.reload();
  await expect(like).toHaveAttribute('aria-pressed', 'true');
  await expect(dislike).toHaveAttribute('aria-pressed', 'false');
  await expect(like.locator('.count')).toHaveText(String(likes + 1));

  await dislike.click();
  await expect(dislike).toHaveAttribute('aria-pressed', 'true');
  await page.reload();
  await expect(dislike).toHaveAttribute('aria-pressed', 'true');
  await expect(like).toHaveAttribute('aria-pressed', 'false');

  // Taken back, it stays taken back.
  await dislike.click();
  await expect(dislike).toHaveAttribute('aria-pressed', 'false');
  await page.reload();
  await expect(like).toBeVisible();
  await expect(like).toHaveAttribute('aria-pressed', 'false');
  await expect(dislike).toHaveAttribute('aria-pressed', 'false');
});

test('Share gives the link, the link at the current time, and an embed snippet that plays on another origin', async ({
  page,
  context,
  env,
  newUserContext,
}, testInfo) => {
  const id = env.videos.public;
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: env.base });
  await page.goto(`/watch/${id}`);
  await expect(page.getByRole('heading', { name: 'Public test pattern', level: 1 })).toBeVisible();
  await expectPlaying(page, 2);
  await page.evaluate(() => document.querySelector('video')?.pause());
  const at = Math.floor(await videoTime(page));
  expect(at).toBeGreaterThanOrEqual(2);

  await page.getByRole('button', { name: 'Share' }).click();
  const dialog = page.getByRole('dialog', { name: 'Share' });
  await expect(dialog.getByLabel('Link', { exact: true })).toHaveValue(`${env.base}/watch/${id}`);
  const atLink = dialog.getByLabel(`Link at 0:0${at}`);
  await expect(atLink).toHaveValue(`${env.base}/watch/${id}?t=${at}`);
  const snippet = await dialog.getByLabel('Embed code').inputValue();
  expect(snippet).toContain(`src="${env.base}/embed/${id}"`);
  // Copy puts exactly what the field shows on the clipboard.
  await dialog.getByRole('button', { name: 'Copy embed code' }).click();
  await expect(dialog.getByText('Copied.')).toBeVisible();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(snippet);
  await dialog.getByRole('button', { name: 'Copy link at' }).click();
  await expect.poll(() => page.evaluate(() => navigator.clipboard.readText())).toBe(`${env.base}/watch/${id}?t=${at}`);
  await checkA11y(page, 'the Share dialog');
  await screenshots(page, 'share', testInfo);
  await dialog.getByRole('button', { name: 'Close' }).click();
  await expect(dialog).toBeHidden();

  // The snippet, pasted into a page of another origin, plays.
  const site = await otherSite(snippet);
  try {
    const other = await (await newUserContext()).newPage();
    await other.goto(site.url);
    const frame = other.frameLocator('iframe');
    await expect(frame.getByRole('link', { name: 'Watch on troupe' })).toBeVisible();
    await expect.poll(() => videoTime(other, '/embed/'), { timeout: 45_000 }).toBeGreaterThan(0.3);
  } finally {
    site.close();
  }

  // The link at the time starts there, for someone who never watched it (nothing to resume).
  const fresh = await (await newUserContext()).newPage();
  await fresh.goto(`${env.base}/watch/${id}?t=${at}`);
  await expectPlaying(fresh, at - 0.5);
  // It did not get there by playing from the start: it started at the time.
  const played = await fresh.evaluate(() => {
    const v = document.querySelector('video');
    return v ? Array.from({ length: v.played.length }, (_, i) => [v.played.start(i), v.played.end(i)] as [number, number]) : [];
  });
  const before = played.reduce((sum, [s, e]) => sum + Math.max(0, Math.min(e, at) - s), 0);
  expect(before, `played ranges ${JSON.stringify(played)}`).toBeLessThan(0.5);
});

test('an embed snippet of a title full of markup is one iframe with that title, and nothing runs', async ({ page, env }) => {
  await page.goto(`/watch/${env.videos.xss}`);
  await expect(page.getByRole('heading', { name: env.xss.title, level: 1 })).toBeVisible();
  await page.getByRole('button', { name: 'Share' }).click();
  const snippet = await page.getByRole('dialog', { name: 'Share' }).getByLabel('Embed code').inputValue();
  expect(snippet).not.toContain('<script');
  const site = await otherSite(snippet);
  try {
    await page.goto(site.url);
    const frames = page.locator('iframe');
    await expect(frames).toHaveCount(1);
    await expect(frames).toHaveAttribute('title', env.xss.title);
    expect(await page.locator('body img, body script').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
  } finally {
    site.close();
  }
});

test('the owner edits title, description and visibility in place; nobody else gets the form', async ({ page, env, newUserContext }) => {
  const name = uniqueName('inplace');
  const token = await apiUser(env, name);
  const id = await uploadVideo(env.server, token, env.clips.tiny, { title: 'Before the edit', description: 'Old words.', visibility: 'public' });
  await waitReady(env.server, token, id);

  // Someone else sees the page without the form.
  const anon = await (await newUserContext()).newPage();
  await anon.goto(`/watch/${id}`);
  await expect(anon.getByRole('heading', { name: 'Before the edit', level: 1 })).toBeVisible();
  await expect(anon.getByRole('button', { name: 'Share' })).toBeVisible();
  await expect(anon.getByRole('button', { name: 'Edit details' })).toHaveCount(0);

  await signInUI(page, name, undefined, `/watch/${id}`);
  await page.getByRole('button', { name: 'Edit details' }).click();
  const form = page.getByRole('form', { name: 'Edit details' });
  await expect(form.getByLabel('Title')).toHaveValue('Before the edit');
  await form.getByLabel('Title').fill('After the <b>edit</b>');
  await form.getByLabel('Description').fill('New words, "quoted" & <i>marked</i>.');
  await form.getByLabel('Visibility').selectOption('unlisted');
  await form.getByRole('button', { name: 'Save' }).click();
  await expect(form).toBeHidden();
  await expect(page.getByRole('heading', { name: 'After the <b>edit</b>', level: 1 })).toBeVisible();
  await expect(page.getByRole('status').filter({ hasText: 'Saved.' })).toBeVisible();
  await expect(page.getByText('unlisted', { exact: true })).toBeVisible();

  // On the server: a reload shows it, as text.
  await page.reload();
  await expect(page.getByRole('heading', { name: 'After the <b>edit</b>', level: 1 })).toBeVisible();
  await expect(page.getByRole('region', { name: 'Description' })).toHaveText('New words, "quoted" & <i>marked</i>.');
  await expect(page.getByText('unlisted', { exact: true })).toBeVisible();
  expect(await page.locator('main b, main i').count()).toBe(0);
  await expect(page).toHaveTitle('After the <b>edit</b> · troupe');

  // Cancel keeps what was there.
  await page.getByRole('button', { name: 'Edit details' }).click();
  await form.getByLabel('Title').fill('Not kept');
  await form.getByRole('button', { name: 'Cancel' }).click();
  await expect(page.getByRole('heading', { name: 'After the <b>edit</b>', level: 1 })).toBeVisible();
});

test('a private video’s poster shows in My videos and search for its owner, and opens for nobody else', async ({ page, env, consoleLog }) => {
  const name = uniqueName('poster');
  const token = await apiUser(env, name);
  const title = `Private poster ${name}`;
  const id = await uploadVideo(env.server, token, env.clips.tiny, { title, visibility: 'private' });
  await waitReady(env.server, token, id);

  await signInUI(page, name, undefined, '/me/videos');
  const row = page.getByRole('list', { name: 'My videos' }).getByRole('listitem', { name: title });
  const img = row.locator('img');
  await expect(img).toHaveCount(1);
  await expect.poll(() => img.evaluate((i: HTMLImageElement) => i.complete && i.naturalWidth)).toBeGreaterThan(0);
  const src = (await img.getAttribute('src')) ?? '';
  expect(src).toContain(`/api/v1/videos/${id}/thumbnail.jpg?token=`);

  // Search lists it for its owner, with its poster too.
  const card = page.getByRole('list', { name: 'Search results' }).getByRole('listitem').filter({ hasText: title });
  await expect(async () => {
    await page.goto(`/search?owner=${encodeURIComponent(name)}`);
    await expect(card.locator('img')).toHaveCount(1, { timeout: 2_000 });
  }).toPass({ timeout: 30_000 });
  await expect.poll(() => card.locator('img').evaluate((i: HTMLImageElement) => i.complete && i.naturalWidth)).toBeGreaterThan(0);

  // Without the signature nobody gets it; with it, only this poster, as any <img> would ask.
  consoleLog.allow(/status of 40[34]/);
  const plain = await fetch(`${env.server}/api/v1/videos/${id}/thumbnail.jpg`);
  expect(plain.status).toBe(404);
  const signed = await fetch(`${env.server}${src}`);
  expect(signed.status).toBe(200);
  expect(signed.headers.get('content-type')).toBe('image/jpeg');
  const other = await fetch(`${env.server}/api/v1/videos/${env.videos.public}/thumbnail.jpg?token=${new URL(src, env.server).searchParams.get('token')}`);
  expect(other.status).toBe(403);
  expect(((await other.json()) as { code: string }).code).toBe('invalid_poster_token');
});
