// A 401 in the middle of an upload, from a real server: a troupe of its own whose access tokens
// live 2 s (plus the server's 5 s leeway), so a token really runs out while the bytes go. The
// upload is throttled hard until the server refuses the token the page holds (the test reads it
// from the sign-in and refresh answers), then goes at full speed: its next PATCH meets the 401.
//
// - The token runs out (its scheduled renewal was lost on the network): the console gets a new
//   one from the refresh cookie and the upload carries on by itself.
// - The login ends (signed out in another tab): the console says so and asks to sign in; after
//   the sign-in the upload carries on where it stopped.

import { statSync } from 'node:fs';
import type { Page } from '@playwright/test';
import { test, expect, apiUser, uniqueName, PASSWORD, logTus, throttleUploads } from './fixtures';
import { startExtraServer } from './global-setup';

let server: Awaited<ReturnType<typeof startExtraServer>> = null;

test.beforeAll(async () => {
  server = await startExtraServer({ TROUPE__AUTH__ACCESS_TTL_SECS: '2' });
});

test.afterAll(async () => {
  await server?.stop();
});

async function signIn(page: Page, base: string, username: string, next: string): Promise<void> {
  await page.goto(`${base}/signin?next=${encodeURIComponent(next)}`);
  await page.getByLabel('Username or email').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Account' })).toBeVisible();
}

/** Starts the upload of the big clip at a trickle; resolves once its first PATCH is on the way,
 * with the bearer token that PATCH carries. */
async function startSlowUpload(page: Page, clip: string, title: string, tus: ReturnType<typeof logTus>): Promise<string> {
  await throttleUploads(page, 256 * 1024);
  await page.getByLabel('Choose a video file').setInputFiles(clip);
  await page.getByLabel('Title').fill(title);
  await page.getByRole('button', { name: 'Upload' }).click();
  await expect.poll(() => tus.patches.length, { timeout: 30_000 }).toBeGreaterThan(0);
  return tus.patches[0].token;
}

async function status(base: string, token: string): Promise<number> {
  return (await fetch(`${base}/api/v1/users/me`, { headers: { Authorization: `Bearer ${token}` } })).status;
}

/** The access tokens a page got (sign-in and refresh answers), and its refreshes under way. */
function trackTokens(page: Page): { latest: () => string; pending: () => number } {
  let latest = '';
  let pending = 0;
  const isAuth = (u: string) => /\/api\/v1\/auth\/(login|refresh)$/.test(new URL(u).pathname);
  // Every request ends in exactly one of requestfinished (its body read) and requestfailed.
  page.on('request', (r) => {
    if (isAuth(r.url())) pending++;
  });
  page.on('requestfailed', (r) => {
    if (isAuth(r.url())) pending--;
  });
  page.on('requestfinished', async (r) => {
    if (!isAuth(r.url())) return;
    try {
      const res = await r.response();
      if (res?.ok()) latest = ((await res.json()) as { access_token: string }).access_token;
    } finally {
      pending--;
    }
  });
  return { latest: () => latest, pending: () => pending };
}

/** Waits until the server refuses the newest token the page holds, with no sign-in or refresh
 * under way that could bring a newer one. */
async function tokenRunsOut(page: Page, base: string, tokens: ReturnType<typeof trackTokens>): Promise<void> {
  await expect(async () => {
    expect(tokens.pending()).toBe(0);
    expect(await status(base, tokens.latest())).toBe(401);
    expect(tokens.pending()).toBe(0);
  }).toPass({ timeout: 60_000 });
}

test('the access token runs out mid-upload: the console renews it and the upload carries on by itself', async ({ page, env, consoleLog }) => {
  test.skip(!server, 'needs a troupe of its own (not with E2E_SERVER_URL)');
  const base = server!.url;
  consoleLog.allow(/status of 401/);
  consoleLog.allow(/net::ERR_INTERNET_DISCONNECTED/);
  const name = uniqueName('ttl');
  await apiUser({ ...env, server: base }, name);
  const size = statSync(env.clips.big).size;

  // The console renews its token on a timer. Once the upload is under way and until a PATCH is
  // refused, the renewals are lost on the network, so the token it holds runs out on the
  // server; the renewal the console asks for after the 401 goes through. (A slow machine may
  // meet a 401 earlier too, which the console handles the same way; this one is made sure of.)
  const tus = logTus(page);
  const tokens = trackTokens(page);
  let blocking = false;
  let refused = false;
  page.on('response', (r) => {
    if (blocking && r.request().method() === 'PATCH' && r.status() === 401) refused = true;
  });
  let lost = 0;
  await page.route('**/api/v1/auth/refresh', (route) => {
    if (!blocking || refused) return route.fallback();
    lost++;
    return route.abort('internetdisconnected');
  });
  await signIn(page, base, name, '/upload');
  const started = await startSlowUpload(page, env.clips.big, 'Token ran out', tus);
  blocking = true;

  await tokenRunsOut(page, base, tokens);
  const dead = tokens.latest();
  await throttleUploads(page, null);

  await expect(page.getByText('Your video is ready.')).toBeVisible({ timeout: 120_000 });
  // Never sent to sign in; the server did refuse a PATCH, and the next one went on from the
  // server's offset with a new token; one upload all along, to the last byte.
  await expect(page).toHaveURL(`${base}/upload`);
  expect(refused, 'a PATCH answered 401').toBe(true);
  const after = tus.patches.slice(tus.patches.map((p) => p.token).lastIndexOf(`Bearer ${dead}`) + 1);
  expect(after.length).toBeGreaterThan(0);
  expect(after[0].offset).toBeGreaterThanOrEqual(8 * 1024 * 1024);
  expect(tus.creations).toBe(1);
  console.log(`401 mid-upload: ${lost} renewal(s) lost; started with ${started === `Bearer ${dead}` ? 'the token that ran out' : 'an older token'}`);
  expect(tus.answers.filter((a) => a.method === 'PATCH').at(-1)).toEqual({ method: 'PATCH', status: 204, offset: size });
});

test('the login ends mid-upload: the console asks to sign in, then the upload carries on where it stopped', async ({ page, env, consoleLog }) => {
  test.skip(!server, 'needs a troupe of its own (not with E2E_SERVER_URL)');
  const base = server!.url;
  consoleLog.allow(/status of 401/);
  const name = uniqueName('ended');
  await apiUser({ ...env, server: base }, name);
  const size = statSync(env.clips.big).size;

  const tokens = trackTokens(page);
  await signIn(page, base, name, '/upload');
  const tus = logTus(page);
  await startSlowUpload(page, env.clips.big, 'Login ended', tus);

  // In another tab of the same browser, the user signs out: that ends this login.
  const other = await page.context().newPage();
  await other.goto(`${base}/account`);
  await other.getByRole('button', { name: 'Sign out' }).click();
  await expect(other.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Sign in' })).toBeVisible();
  await other.close();

  // Once the server refuses the upload's token, let the bytes go: the next PATCH meets the 401.
  await tokenRunsOut(page, base, tokens);
  const dead = tokens.latest();
  await throttleUploads(page, null);
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible({ timeout: 60_000 });
  await expect(page.getByText('Your session ended. Sign in again to continue where you were.')).toBeVisible();
  const refused = tus.answers.findIndex((a) => a.method === 'PATCH' && a.status === 401);
  expect(refused, 'a PATCH answered 401').toBeGreaterThanOrEqual(0);
  const sentBefore = tus.patches.length;

  await page.getByLabel('Username or email').fill(name);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(`${base}/upload`);
  await expect(page.getByText('Your video is ready.')).toBeVisible({ timeout: 120_000 });
  // The same upload, on from the server's offset (not from 0), to the last byte.
  expect(tus.creations).toBe(1);
  expect(tus.patches.length).toBeGreaterThan(sentBefore);
  expect(tus.patches[sentBefore].offset).toBeGreaterThanOrEqual(8 * 1024 * 1024);
  expect(tus.patches[sentBefore].token).not.toBe(`Bearer ${dead}`);
  expect(tus.answers.filter((a) => a.method === 'PATCH').at(-1)).toEqual({ method: 'PATCH', status: 204, offset: size });
});
