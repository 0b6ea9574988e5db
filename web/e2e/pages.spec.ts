// Every page: axe-core (no serious or critical violation), no console errors (the fixture), and
// screenshots at 375 and 1440 px into the test output folder.
import type { Page } from '@playwright/test';
import { test, expect, checkA11y, screenshots, signInUI, signUpUI, uniqueName } from './fixtures';

async function settled(page: Page): Promise<void> {
  await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
  await expect(page.getByRole('status').filter({ hasText: /Loading|Checking|Starting/ })).toHaveCount(0, { timeout: 30_000 });
}

test.describe('anonymous pages', () => {
  const pages: [string, (env: import('./env').E2eEnv) => string][] = [
    ['home', () => '/'],
    ['search', () => '/search?tag=e2e'],
    ['watch', (env) => `/watch/${env.videos.public}`],
    ['signin', () => '/signin'],
    ['signup', () => '/signup'],
    ['account-anonymous', () => '/account'],
    ['not-found', () => '/nowhere'],
  ];
  for (const [name, path] of pages) {
    test(name, async ({ page, env }, testInfo) => {
      await page.goto(path(env));
      await settled(page);
      await checkA11y(page, name);
      await screenshots(page, name, testInfo);
    });
  }

  test('watch-private', async ({ page, env, consoleLog }, testInfo) => {
    consoleLog.allow(/status of 404/);
    await page.goto(`/watch/${env.videos.private}`);
    await settled(page);
    await checkA11y(page, 'watch-private');
    await screenshots(page, 'watch-private', testInfo);
  });

  test('embed', async ({ page, env }, testInfo) => {
    await page.goto(`/embed/${env.videos.public}`);
    await expect(page.getByRole('link', { name: 'Watch on troupe' })).toBeVisible();
    await checkA11y(page, 'embed');
    await screenshots(page, 'embed', testInfo);
  });
});

test.describe('signed-in pages', () => {
  test('upload, my videos, history, account, watch (signed in)', async ({ page, env }, testInfo) => {
    const name = uniqueName('pages');
    await signUpUI(page, name, '/upload');
    await settled(page);
    await checkA11y(page, 'upload');
    await screenshots(page, 'upload', testInfo);

    await page.getByLabel('Choose a video file').setInputFiles(env.clips.small);
    await expect(page.getByLabel('Title')).toBeVisible();
    await checkA11y(page, 'upload-details');
    await screenshots(page, 'upload-details', testInfo);
    await page.getByRole('button', { name: 'Upload' }).click();
    await expect(page.getByLabel('Processing')).toBeVisible({ timeout: 60_000 });
    await checkA11y(page, 'upload-processing');
    await screenshots(page, 'upload-processing', testInfo);

    await page.goto(`/watch/${env.videos.public}`);
    await settled(page);
    await checkA11y(page, 'watch-signed-in');
    await screenshots(page, 'watch-signed-in', testInfo);

    await page.goto('/me/videos');
    await settled(page);
    await checkA11y(page, 'my-videos');
    await screenshots(page, 'my-videos', testInfo);
    await page.getByRole('button', { name: /^Delete / }).first().click();
    await expect(page.getByRole('dialog', { name: 'Delete this video?' })).toBeVisible();
    await checkA11y(page, 'my-videos-delete-dialog');
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('button', { name: /^Edit / }).first().click();
    await expect(page.getByRole('dialog', { name: 'Edit video' })).toBeVisible();
    await checkA11y(page, 'my-videos-edit-dialog');
    await screenshots(page, 'my-videos-edit-dialog', testInfo);
    await page.getByRole('button', { name: 'Cancel' }).click();

    await page.goto('/me/history');
    await settled(page);
    await checkA11y(page, 'history');
    await screenshots(page, 'history', testInfo);

    await page.goto('/account');
    await settled(page);
    await checkA11y(page, 'account');
    await screenshots(page, 'account', testInfo);
  });

  test('admin', async ({ page, env }, testInfo) => {
    await signInUI(page, env.admin.username, env.admin.password, '/admin');
    await settled(page);
    await expect(page.getByRole('heading', { name: 'Cluster' })).toBeVisible();
    await checkA11y(page, 'admin');
    await screenshots(page, 'admin', testInfo);
  });
});
