// The search page against the real catalogue index: suggestions, typos, highlights, filters and
// sorts in the URL, hostile titles, reload, paging and privacy. Videos are made through the API;
// a change is searchable within about a second, so each test first waits (expect.poll on the
// API) until the index has its videos, then drives the page with auto-waiting assertions.

import type { Locator, Page } from '@playwright/test';
import { test, expect, apiUser, checkA11y, signInUI, uniqueName, type ConsoleLog } from './fixtures';
import { uploadVideo, waitReady } from './global-setup';
import type { E2eEnv } from './env';

/** A word no other video has (letters only, so the index keeps it one token). */
function word(): string {
  const a = 'abcdefghijklmnopqrstuvwxyz';
  return Array.from(crypto.getRandomValues(new Uint8Array(10)), (b) => a[b % 26]).join('');
}

async function createVideo(
  env: E2eEnv,
  token: string,
  meta: { title: string; description?: string; tags?: string[]; visibility?: 'public' | 'private' | 'unlisted' },
): Promise<string> {
  const r = await fetch(`${env.server}/api/v1/videos`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ visibility: 'public', ...meta }),
  });
  if (r.status !== 201) throw new Error(`create video: ${r.status} ${await r.text()}`);
  return ((await r.json()) as { id: string }).id;
}

/** The ids `GET /api/v1/search` gives this caller for `q`. */
async function searchIds(env: E2eEnv, token: string | null, q: string): Promise<string[]> {
  const r = await fetch(`${env.server}/api/v1/search?q=${encodeURIComponent(q)}&limit=100`, {
    headers: token ? { Authorization: `Bearer ${token}` } : {},
  });
  if (!r.ok) throw new Error(`search: ${r.status} ${await r.text()}`);
  return ((await r.json()) as { items: { id: string }[] }).items.map((i) => i.id);
}

/** Waits until the index has all of `ids` for this caller (changes show within about 1 s). */
async function indexed(env: E2eEnv, token: string, q: string, ids: string[]): Promise<void> {
  await expect
    .poll(async () => (await searchIds(env, token, q)).filter((id) => ids.includes(id)).length, { timeout: 15_000 })
    .toBe(ids.length);
}

/** A user signed in through the page (so their own not-yet-uploaded videos are listed to them). */
async function owner(page: Page, env: E2eEnv): Promise<string> {
  const name = uniqueName('srch');
  const token = await apiUser(env, name);
  await signInUI(page, name);
  return token;
}

function results(page: Page): Locator {
  return page.getByRole('list', { name: 'Search results' });
}

function box(page: Page): Locator {
  return page.getByRole('combobox', { name: 'Search videos' });
}

function noDialogs(page: Page): { count: () => number } {
  let n = 0;
  page.on('dialog', (d) => {
    n++;
    void d.dismiss();
  });
  return { count: () => n };
}

test('typing shows suggestions; the keyboard or a click picks one and searches for it', async ({ page, env }) => {
  const token = await owner(page, env);
  const w = word();
  const title = `Mountain sunrise ${w}`;
  const id = await createVideo(env, token, { title });
  await indexed(env, token, w, [id]);

  await page.goto('/search');
  const input = box(page);
  await expect(input).toHaveAttribute('aria-expanded', 'false');
  await input.pressSequentially(`sunrise ${w.slice(0, 6)}`, { delay: 30 });
  const list = page.getByRole('listbox', { name: 'Suggestions' });
  const option = list.getByRole('option', { name: title });
  await expect(option).toBeVisible();
  await expect(input).toHaveAttribute('aria-expanded', 'true');
  // The typed words are marked in the suggestion.
  await expect(option.locator('mark').first()).toHaveText('sunrise');
  await checkA11y(page, 'search with suggestions open');

  // Escape closes the list and keeps the text.
  await input.press('Escape');
  await expect(list).toBeHidden();
  await expect(input).toHaveValue(`sunrise ${w.slice(0, 6)}`);

  // ArrowDown opens it again on the first option; Enter picks it.
  await input.press('ArrowDown');
  await expect(option).toHaveAttribute('aria-selected', 'true');
  await expect(input).toHaveAttribute('aria-activedescendant', (await option.getAttribute('id')) ?? 'none');
  await input.press('Enter');
  await expect(page).toHaveURL(`/search?q=${encodeURIComponent(title).replace(/%20/g, '+')}`);
  await expect(input).toHaveValue(title);
  await expect(list).toBeHidden();
  await expect(results(page).getByRole('link', { name: title })).toBeVisible();

  // A click picks too.
  await input.fill('');
  await input.pressSequentially(`mountain ${w.slice(0, 5)}`, { delay: 30 });
  await list.getByRole('option', { name: title }).click();
  await expect(page).toHaveURL(/\/search\?q=Mountain\+sunrise\+/);
  await expect(input).toHaveValue(title);
  await expect(results(page).getByRole('link', { name: title })).toBeVisible();
});

test('the header’s search box suggests too, and goes to the search page', async ({ page, env }) => {
  const token = await owner(page, env);
  const w = word();
  const title = `Glacier cave ${w}`;
  const id = await createVideo(env, token, { title });
  await indexed(env, token, w, [id]);

  await page.goto('/');
  const header = page.getByRole('search', { name: 'Site' });
  const input = header.getByRole('combobox', { name: 'Search videos' });
  await input.pressSequentially(`glacier ${w.slice(0, 6)}`, { delay: 30 });
  await header.getByRole('listbox', { name: 'Suggestions' }).getByRole('option', { name: title }).click();
  await expect(page).toHaveURL(`/search?q=${encodeURIComponent(title).replace(/%20/g, '+')}`);
  await expect(results(page).getByRole('link', { name: title })).toBeVisible();
  // On the search page the page's own box is the one (the header's is not shown).
  await expect(page.getByRole('combobox', { name: 'Search videos' })).toHaveValue(title);

  await page.goto(`/watch/${id}`);
  await input.fill(w);
  await input.press('Enter');
  await expect(page).toHaveURL(`/search?q=${w}`);
  await expect(results(page).getByRole('link', { name: title })).toBeVisible();
});

test('a typo ("mountian") finds the video, with the matched word in <mark>', async ({ page, env }) => {
  const token = await owner(page, env);
  const w = word();
  const title = `Mountain lake ${w}`;
  const id = await createVideo(env, token, { title, description: `A calm lake below the mountain, filmed for ${w}.` });
  await indexed(env, token, w, [id]);

  await page.goto('/search');
  await box(page).fill(`mountian ${w}`);
  await box(page).press('Enter');
  await expect(page).toHaveURL(`/search?q=mountian+${w}`);
  const card = results(page).getByRole('listitem').filter({ hasText: w });
  await expect(card).toHaveCount(1);
  const heading = card.getByRole('heading', { level: 3 });
  await expect(heading).toHaveText(title);
  await expect(heading.locator('mark', { hasText: 'Mountain' })).toHaveCount(1);
  await expect(heading.locator('mark', { hasText: w })).toHaveCount(1);
  await expect(heading.locator('mark', { hasText: 'lake' })).toHaveCount(0);
  await checkA11y(page, 'search results');
  // The description snippet is highlighted too.
  await expect(card.locator('.card-snippet mark', { hasText: 'mountain' })).toHaveCount(1);
});

test('filters and sort change the URL and the results, and back restores them', async ({ page, env }) => {
  const token = await owner(page, env);
  const w = word();
  const tag = `t${word()}`;
  const strong = await createVideo(env, token, { title: `${w} kestrel in flight`, tags: [tag] });
  // Made second, so it is the newest; the word is only in its description, so it ranks lower.
  const weak = await createVideo(env, token, { title: 'Falcon over the cliffs', description: `Seen near the ${w} nest.` });
  await indexed(env, token, w, [strong, weak]);

  await page.goto(`/search?q=${w}`);
  const titles = results(page).getByRole('heading', { level: 3 });
  await expect(titles).toHaveText([`${w} kestrel in flight`, 'Falcon over the cliffs']);

  const sort = page.getByLabel('Sort by');
  await sort.focus();
  await sort.selectOption({ label: 'Newest' });
  await expect(page).toHaveURL(`/search?q=${w}&sort=newest`);
  await expect(titles).toHaveText(['Falcon over the cliffs', `${w} kestrel in flight`]);
  // The menu keeps the focus (the page follows the URL without being rebuilt).
  await expect(sort).toBeFocused();

  await page.getByLabel('Tag').fill(tag);
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await expect(page).toHaveURL(`/search?q=${w}&tag=${tag}&sort=newest`);
  await expect(titles).toHaveText([`${w} kestrel in flight`]);

  // These videos have no file yet, so none is over 20 minutes: the empty state.
  await page.getByLabel('Duration').selectOption({ label: 'Over 20 minutes' });
  await expect(page).toHaveURL(`/search?q=${w}&tag=${tag}&duration=long&sort=newest`);
  await expect(page.getByRole('status').filter({ hasText: 'No videos match this search.' })).toBeVisible();
  await expect(results(page)).toHaveCount(0);

  await page.goBack();
  await expect(page).toHaveURL(`/search?q=${w}&tag=${tag}&sort=newest`);
  await expect(page.getByLabel('Duration')).toHaveValue('');
  await expect(titles).toHaveText([`${w} kestrel in flight`]);
  await page.goBack();
  await expect(page).toHaveURL(`/search?q=${w}&sort=newest`);
  await expect(page.getByLabel('Tag')).toHaveValue('');
  await expect(titles).toHaveText(['Falcon over the cliffs', `${w} kestrel in flight`]);
});

test('a title with <img src=x onerror=alert(1)> renders as text in results and suggestions', async ({ page, env }) => {
  const dialogs = noDialogs(page);
  const token = await owner(page, env);
  const w = word();
  const title = `Night ${w} <img src=x onerror=alert(1)> <b>bold</b>`;
  const id = await createVideo(env, token, { title, description: `<script>alert(2)</script> about ${w}` });
  await indexed(env, token, w, [id]);

  await page.goto('/search');
  await box(page).pressSequentially(w.slice(0, 7), { delay: 30 });
  const option = page.getByRole('listbox', { name: 'Suggestions' }).getByRole('option').filter({ hasText: w });
  await expect(option).toHaveText(title);
  await box(page).press('Escape');
  await box(page).fill(w);
  await box(page).press('Enter');
  const card = results(page).getByRole('listitem').filter({ hasText: w });
  await expect(card.getByRole('heading', { level: 3 })).toHaveText(title);
  await expect(card.locator('.card-snippet')).toHaveText(`<script>alert(2)</script> about ${w}`);
  // No element came out of the title or the description.
  expect(await page.locator('main img[src="x"], main b, main script').count()).toBe(0);
  expect(dialogs.count()).toBe(0);
});

test('reloading the URL restores the search', async ({ page, env }) => {
  const token = await owner(page, env);
  const w = word();
  const id = await createVideo(env, token, { title: `Harbour at dusk ${w}` });
  await indexed(env, token, w, [id]);

  await page.goto('/search');
  await box(page).fill(`harbour ${w}`);
  await page.getByLabel('Upload date').selectOption({ label: 'This week' });
  await expect(page).toHaveURL(`/search?q=harbour+${w}&date=week`);
  await page.getByLabel('Sort by').selectOption({ label: 'Most viewed' });
  await expect(page).toHaveURL(`/search?q=harbour+${w}&date=week&sort=views`);
  await expect(results(page).getByRole('link', { name: `Harbour at dusk ${w}` })).toBeVisible();

  await page.reload();
  await expect(box(page)).toHaveValue(`harbour ${w}`);
  await expect(page.getByLabel('Upload date')).toHaveValue('week');
  await expect(page.getByLabel('Sort by')).toHaveValue('views');
  await expect(results(page).getByRole('link', { name: `Harbour at dusk ${w}` })).toBeVisible();
});

test('another user’s private video is never shown or suggested; their public one is', async ({ page, env, newUserContext }) => {
  test.slow();
  const w = word();
  const other = await apiUser(env, uniqueName('srchb'));
  const [open, secret] = await Promise.all([
    uploadVideo(env.server, other, env.clips.small, { title: `Open ${w} garden`, visibility: 'public' }),
    uploadVideo(env.server, other, env.clips.small, { title: `Secret ${w} garden`, visibility: 'private' }),
  ]);
  await Promise.all([waitReady(env.server, other, open), waitReady(env.server, other, secret)]);
  // The owner finds both: the index has them.
  await indexed(env, other, w, [open, secret]);
  // Anyone else: only the public one.
  await expect.poll(() => searchIds(env, null, w)).toEqual([open]);

  for (const viewer of ['signed in', 'anonymous'] as const) {
    const p = viewer === 'signed in' ? page : await (await newUserContext()).newPage();
    if (viewer === 'signed in') await owner(p, env);
    await p.goto('/search');
    await box(p).pressSequentially(`${w.slice(0, 6)}`, { delay: 30 });
    const list = p.getByRole('listbox', { name: 'Suggestions' });
    await expect(list.getByRole('option')).toHaveText([`Open ${w} garden`]);
    await box(p).press('Escape');
    await box(p).press('Enter');
    await expect(results(p).getByRole('heading', { level: 3 })).toHaveText([`Open ${w} garden`]);
    await expect(p.getByText(`Secret ${w} garden`)).toHaveCount(0);

    // Not with a filter (both are 4 s clips), nor by the words only its title has.
    await p.goto(`/search?q=${w}&duration=short`);
    await expect(results(p).getByRole('heading', { level: 3 })).toHaveText([`Open ${w} garden`]);
    await p.goto(`/search?q=${encodeURIComponent(`secret ${w}`)}`);
    await expect(p.getByRole('status').filter({ hasText: 'No videos match this search.' })).toBeVisible();
    await expect(p.getByText(`Secret ${w} garden`)).toHaveCount(0);
  }
});

test('more results load from next_cursor', async ({ page, env }) => {
  const token = await owner(page, env);
  const w = word();
  const ids: string[] = [];
  for (let i = 0; i < 27; i++) ids.push(await createVideo(env, token, { title: `Tide pool ${w} number ${i}` }));
  await indexed(env, token, w, ids);

  await page.goto(`/search?q=${w}&sort=newest`);
  const cards = results(page).getByRole('listitem');
  await expect(cards).toHaveCount(24);
  await expect(cards.first().getByRole('heading')).toHaveText(`Tide pool ${w} number 26`);
  // The next page comes when the end of the list scrolls into view, or from the button.
  await expect(async () => {
    const more = page.getByRole('button', { name: 'More results' });
    if (await more.isVisible()) await more.click({ timeout: 2_000 });
    await expect(cards).toHaveCount(27, { timeout: 2_000 });
  }).toPass();
  await expect(cards.last().getByRole('heading')).toHaveText(`Tide pool ${w} number 0`);
  await expect(page.getByText('That is all.')).toBeVisible();
});

test('an expired cursor (410 cursor_expired) starts the list over: every card once, the user told, no error', async ({ page, env, consoleLog }) => {
  consoleLog.allow(/status of 410/);
  const token = await owner(page, env);
  const w = word();
  const ids: string[] = [];
  for (let i = 0; i < 27; i++) ids.push(await createVideo(env, token, { title: `Rock pool ${w} number ${i}` }));
  await indexed(env, token, w, ids);

  // The server says 410 when a cursor's ranking is gone, which cannot be brought about on cue
  // from here: the first next-page request gets that answer, as the API documents it.
  let refused = 0;
  let firstPages = 0;
  await page.route('**/api/v1/search?*', (route) => {
    if (!new URL(route.request().url()).searchParams.get('cursor')) {
      firstPages++;
      return route.fallback();
    }
    if (refused++ > 0) return route.fallback();
    return route.fulfill({
      status: 410,
      contentType: 'application/problem+json',
      json: {
        type: 'https://troupe.dev/problems/gone',
        title: 'Gone',
        status: 410,
        code: 'cursor_expired',
        detail: 'this cursor has expired: the ranking it continues is gone; start from the first page',
      },
    });
  });
  await page.goto(`/search?q=${w}&sort=newest`);
  const cards = results(page).getByRole('listitem');
  await expect(cards).toHaveCount(24);
  await expect(async () => {
    const more = page.getByRole('button', { name: 'More results' });
    if (await more.isVisible()) await more.click({ timeout: 2_000 });
    await expect(cards).toHaveCount(27, { timeout: 2_000 });
  }).toPass();
  await expect(page.getByRole('status').filter({ hasText: 'The list changed while you were scrolling, so it started again from the top.' })).toBeVisible();
  await expect(page.getByText('That is all.')).toBeVisible();
  await expect(page.getByRole('alert')).toHaveCount(0);
  // Refused once, then the first page again, then the rest: each video once, in order.
  expect(refused).toBe(2);
  expect(firstPages).toBe(2);
  const want = Array.from({ length: 27 }, (_, i) => `Rock pool ${w} number ${26 - i}`);
  await expect(cards.getByRole('heading')).toHaveText(want);
});

test('a query the server refuses shows its detail', async ({ page, consoleLog }: { page: Page; consoleLog: ConsoleLog }) => {
  consoleLog.allow(/status of 422/);
  await page.goto(`/search?q=${'a'.repeat(513)}`);
  await expect(page.getByRole('alert')).toHaveText('q is limited to 512 characters');
  await page.goto('/search?q=river&sort=loudest');
  await expect(page.getByRole('alert')).toHaveText('sort must be relevance, newest or views');
  // Choosing a real sort fixes it.
  await page.getByLabel('Sort by').selectOption({ label: 'Newest' });
  await expect(page).toHaveURL('/search?q=river&sort=newest');
  await expect(page.getByRole('alert')).toHaveCount(0);
});

test('suggestions wait for a pause in typing, and a late answer to an older request is dropped', async ({ page, env }) => {
  const token = await owner(page, env);
  const w = word();
  const title = `Canyon echo ${w}`;
  const id = await createVideo(env, token, { title });
  await indexed(env, token, w, [id]);

  // The answer for the first word comes late, and says something else.
  let stale = 0;
  await page.route('**/api/v1/search/suggest?*', async (route) => {
    const q = new URL(route.request().url()).searchParams.get('q') ?? '';
    if (q !== 'canyon') return route.continue();
    stale++;
    await new Promise((r) => setTimeout(r, 1_500));
    await route
      .fulfill({ json: { suggestions: [{ text: 'Stale answer', video_id: id, segments: [{ text: 'Stale answer', hit: false }] }] } })
      .catch(() => undefined);
  });
  const asked: string[] = [];
  page.on('request', (r) => {
    if (r.url().includes('/api/v1/search/suggest')) asked.push(new URL(r.url()).searchParams.get('q') ?? '');
  });

  await page.goto('/search');
  await box(page).pressSequentially('canyon', { delay: 20 });
  await expect.poll(() => stale).toBe(1);
  // Typed quickly: one request for the whole word, not one per key.
  expect(asked).toEqual(['canyon']);
  await box(page).pressSequentially(` ${w.slice(0, 6)}`, { delay: 20 });
  const list = page.getByRole('listbox', { name: 'Suggestions' });
  await expect(list.getByRole('option')).toHaveText([title]);
  // Well after the late answer would have come: still the newer one.
  await page.waitForTimeout(2_000);
  await expect(list.getByRole('option')).toHaveText([title]);
  expect(asked).toEqual(['canyon', `canyon ${w.slice(0, 6)}`]);
});

test('while the catalogue is rebuilt (503) the page shows the server’s detail and can try again', async ({ page, consoleLog }) => {
  consoleLog.allow(/status of 503/);
  // The index cannot be made to rebuild from here: answer as the server does meanwhile.
  await page.route('**/api/v1/search?*', (route) =>
    route.fulfill({
      status: 503,
      headers: { 'Retry-After': '1' },
      contentType: 'application/problem+json',
      json: { type: 'about:blank', title: 'Service Unavailable', status: 503, code: 'catalogue_rebuilding', detail: 'the catalogue is being rebuilt; try again in a moment' },
    }),
  );
  await page.goto('/search?tag=e2e');
  await expect(page.getByRole('alert')).toHaveText('the catalogue is being rebuilt; try again in a moment');
  await page.unroute('**/api/v1/search?*');
  await page.getByRole('button', { name: 'Try again' }).click();
  await expect(page.getByRole('alert')).toHaveCount(0);
  await expect(results(page).getByRole('link', { name: 'Public test pattern' })).toBeVisible();
});
