// Shared fixtures and helpers: the server from the global setup, console-error tracking on
// every page, axe-core, screenshots at 375 and 1440 px, and account helpers.

import { test as base, expect, type BrowserContext, type CDPSession, type Page, type TestInfo } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { e2eEnv, type E2eEnv } from './env';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export const PASSWORD = 'violet-harbor-cinnamon-42';

let serial = 0;
/** A fresh username for this run. */
export function uniqueName(prefix: string): string {
  serial++;
  return `${prefix}${Date.now().toString(36)}${serial}`.slice(0, 32);
}

export interface ConsoleLog {
  errors: string[];
  /** Errors expected by this test (for example the 404 of a private video). */
  allow(re: RegExp): void;
}

function watchConsole(page: Page, log: { errors: string[]; allowed: RegExp[] }): void {
  page.on('console', (m) => {
    if (m.type() === 'error') log.errors.push(`${page.url()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => log.errors.push(`${page.url()}: pageerror ${e.message}`));
}

export const test = base.extend<{ env: E2eEnv; consoleLog: ConsoleLog; newUserContext: () => Promise<BrowserContext> }>({
  env: async ({}, use) => {
    await use(e2eEnv());
  },
  baseURL: async ({}, use) => {
    await use(e2eEnv().base);
  },
  // Every page of the test (its own and those of extra contexts) is watched for console errors;
  // the test fails on any it did not allow.
  consoleLog: [
    async ({ context }, use) => {
      const log = { errors: [] as string[], allowed: [] as RegExp[] };
      // Before cookie sign-in lands, the console's first login try is refused with a 422.
      if (!e2eEnv().cookieLogin) log.allowed.push(/status of 422 \(Unprocessable Entity\)/);
      context.on('page', (p) => watchConsole(p, log));
      for (const p of context.pages()) watchConsole(p, log);
      (globalThis as unknown as { __e2eLog?: typeof log }).__e2eLog = log;
      await use({ errors: log.errors, allow: (re) => log.allowed.push(re) });
      const unexpected = log.errors.filter((e) => !log.allowed.some((re) => re.test(e)));
      expect(unexpected, 'browser console errors').toEqual([]);
    },
    { auto: true },
  ],
  newUserContext: async ({ browser, baseURL }, use) => {
    const made: BrowserContext[] = [];
    await use(async () => {
      const c = await browser.newContext({ baseURL });
      const log = (globalThis as unknown as { __e2eLog?: { errors: string[]; allowed: RegExp[] } }).__e2eLog;
      if (log) c.on('page', (p) => watchConsole(p, log));
      made.push(c);
      return c;
    });
    for (const c of made) await c.close();
  },
});

export { expect };

/** axe-core on the page as it is: no serious or critical violation. */
export async function checkA11y(page: Page, what: string): Promise<void> {
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (ctx: Document, opts: object) => Promise<{ violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[] }> } }).axe;
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => JSON.stringify(n.target)).slice(0, 5) }));
  });
  const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(bad, `axe: serious or critical violations on ${what}`).toEqual([]);
}

/** Screenshots at 375 and 1440 px wide, into the test's output folder (not git). */
export async function screenshots(page: Page, name: string, testInfo: TestInfo): Promise<void> {
  const before = page.viewportSize();
  for (const width of [375, 1440]) {
    await page.setViewportSize({ width, height: width === 375 ? 812 : 900 });
    await page.waitForTimeout(150);
    // Nothing may stick out sideways at this width.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow, `${name} scrolls sideways at ${width} px`).toBeLessThanOrEqual(1);
    await page.screenshot({ path: testInfo.outputPath(`${name}-${width}.png`), fullPage: true });
  }
  if (before) await page.setViewportSize(before);
}

/** Signs up through the page and lands back on `next`. */
export async function signUpUI(page: Page, username: string, next = '/'): Promise<void> {
  await page.goto(`/signup?next=${encodeURIComponent(next)}`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Email').fill(`${username}@example.org`);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Account' })).toBeVisible();
}

export async function signInUI(page: Page, username: string, password = PASSWORD, next = '/'): Promise<void> {
  await page.goto(`/signin?next=${encodeURIComponent(next)}`);
  await page.getByLabel('Username or email').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Account' })).toBeVisible();
}

/** Registers an account through the API; returns its access token. */
export async function apiUser(env: E2eEnv, username: string, password = PASSWORD): Promise<string> {
  const reg = await fetch(`${env.server}/api/v1/auth/register`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, email: `${username}@example.org`, password }),
  });
  if (reg.status !== 201) throw new Error(`register ${username}: ${reg.status} ${await reg.text()}`);
  return apiLogin(env, username, password);
}

export async function apiLogin(env: E2eEnv, username: string, password = PASSWORD): Promise<string> {
  const r = await fetch(`${env.server}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (!r.ok) throw new Error(`login ${username}: ${r.status} ${await r.text()}`);
  return ((await r.json()) as { access_token: string }).access_token;
}

/** Waits until the page's <video> has played (a `playing` event and time moving). */
export async function expectPlaying(page: Page, min = 0.3): Promise<void> {
  await expect
    .poll(async () => page.evaluate(() => document.querySelector('video')?.currentTime ?? 0), { timeout: 45_000 })
    .toBeGreaterThan(min);
}

/** The server's offset of a tus upload (`HEAD`, as any tus client asks it). */
export async function tusOffset(uploadUrl: string, token: string): Promise<number> {
  const r = await fetch(uploadUrl, { method: 'HEAD', headers: { Authorization: `Bearer ${token}`, 'Tus-Resumable': '1.0.0' } });
  if (r.status !== 200) throw new Error(`HEAD ${uploadUrl}: ${r.status}`);
  return Number(r.headers.get('upload-offset'));
}

/** The tus upload requests (creation and PATCHes) of a page, as they go out and as they are
 * answered: method, `Upload-Offset`, bearer token, status. */
export interface TusLog {
  /** POSTs to /api/v1/uploads (new uploads). */
  creations: number;
  /** Every PATCH: the offset it sent from and the token it carried. */
  patches: { offset: number; token: string }[];
  /** Every answer to a PATCH or HEAD: status and `Upload-Offset`. */
  answers: { method: string; status: number; offset: number }[];
  /** The upload's URL, from the creation's Location. */
  url: string | null;
}

export function logTus(page: Page): TusLog {
  const log: TusLog = { creations: 0, patches: [], answers: [], url: null };
  const isUploads = (u: string) => new URL(u).pathname.startsWith('/api/v1/uploads');
  page.on('request', (r) => {
    if (!isUploads(r.url())) return;
    if (r.method() === 'POST') log.creations++;
    if (r.method() === 'PATCH') log.patches.push({ offset: Number(r.headers()['upload-offset']), token: r.headers()['authorization'] ?? '' });
  });
  page.on('response', (r) => {
    if (!isUploads(r.url())) return;
    const m = r.request().method();
    if (m === 'POST' && r.status() === 201) log.url = new URL(r.headers()['location'], r.url()).href;
    if (m === 'PATCH' || m === 'HEAD') log.answers.push({ method: m, status: r.status(), offset: Number(r.headers()['upload-offset'] ?? NaN) });
  });
  return log;
}

const cdpSessions = new WeakMap<Page, CDPSession>();

/** Throttles the page's uploads to `bytesPerSec` (null: full speed), through the DevTools
 * protocol as Chrome's network throttling does. */
export async function throttleUploads(page: Page, bytesPerSec: number | null): Promise<void> {
  let cdp = cdpSessions.get(page);
  if (!cdp) {
    cdp = await page.context().newCDPSession(page);
    await cdp.send('Network.enable');
    cdpSessions.set(page, cdp);
  }
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false,
    latency: 0,
    downloadThroughput: -1,
    uploadThroughput: bytesPerSec ?? -1,
  });
}

/** Scrolls the home page's latest list (which loads more as it is scrolled, or on "More
 * videos") until the link named `name` shows: other specs' uploads may have pushed it past the
 * first page. */
export async function revealInLatest(page: Page, name: string) {
  const link = page.getByRole('list', { name: 'Latest videos' }).getByRole('link', { name });
  await expect(async () => {
    if (!(await link.isVisible())) {
      await page.mouse.wheel(0, 10_000);
      const more = page.getByRole('button', { name: 'More videos' });
      // The scroll may load the next page first, and the button go away (the list may even
      // end): a click that waits for it would outlast the whole retry.
      if (await more.isVisible()) await more.click({ timeout: 2_000 }).catch(() => undefined);
    }
    await expect(link).toBeVisible({ timeout: 2_000 });
  }).toPass({ timeout: 90_000 });
  return link;
}
