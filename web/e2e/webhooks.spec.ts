// Webhooks from the user's side (issue 24): add an endpoint with its events (the secret shows
// once, and Copy puts it on the clipboard), a refused URL says why, a test event reaches a real
// receiver signed with that secret and shows in the delivery log (status, latency, the answer),
// a failed delivery is retried from the log, the user's own video.ready arrives, rotating the
// secret signs with both during the overlap, edit, and delete.

import { test, expect, apiUser, checkA11y, screenshots, signInUI, uniqueName, PASSWORD } from './fixtures';
import { uploadVideo, waitReady } from './global-setup';
import { Receiver } from './webhook-receiver';

const receiver = new Receiver();

test.beforeAll(async () => {
  await receiver.start();
});

test.afterAll(async () => {
  await receiver.stop();
});

test('a webhook endpoint: secret once, test, log, retry, a real event, rotation, edit, delete', async ({ page, context, env, consoleLog }, testInfo) => {
  consoleLog.allow(/status of 422/); // the refused URL
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  const name = uniqueName('hooks').toLowerCase();
  const token = await apiUser(env, name);
  await signInUI(page, name, PASSWORD, '/account');
  await page.getByRole('link', { name: 'Webhooks' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Webhooks' })).toBeVisible();
  await expect(page.getByText('No endpoints yet.')).toBeVisible();

  // An internal address is refused, with the server's reason.
  await page.getByLabel('URL').fill('http://169.254.169.254/latest/meta-data');
  await page.getByRole('button', { name: 'Add the endpoint' }).click();
  await expect(page.getByRole('alert')).toBeVisible();

  await page.getByLabel('URL').fill(receiver.url);
  await page.getByLabel('Description (optional)').fill('My <b>app</b>');
  await page.getByRole('checkbox', { name: /Video created/ }).check();
  await expect(page.getByRole('checkbox', { name: /Video ready/ })).toBeChecked();
  await page.getByRole('button', { name: 'Add the endpoint' }).click();
  const secretBox = page.getByRole('region', { name: 'Signing secret' });
  const secret = (await secretBox.getByLabel('Signing secret').textContent()) ?? '';
  expect(secret).toMatch(/^whsec_[A-Za-z0-9+/=]{32,}$/);
  await secretBox.getByRole('button', { name: 'Copy the secret' }).click();
  await expect(secretBox.getByRole('status')).toHaveText('Copied.');
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
  await checkA11y(page, 'webhooks, new secret');
  await screenshots(page, 'webhooks-secret', testInfo);
  await secretBox.getByRole('button', { name: 'I saved it' }).click();
  await expect(secretBox).toHaveCount(0);
  receiver.secrets = [secret];

  // Shown once: not after a reload.
  await page.reload();
  const list = page.getByRole('list', { name: 'Endpoints' });
  await expect(list.getByRole('link', { name: receiver.url })).toBeVisible();
  await expect(list).toContainText('My <b>app</b>');
  expect(await page.content()).not.toContain(secret);
  await screenshots(page, 'webhooks-list', testInfo);

  await list.getByRole('link', { name: receiver.url }).click();
  await expect(page.getByRole('heading', { level: 1, name: receiver.url })).toBeVisible();
  await page.getByRole('button', { name: 'Send a test event' }).click();
  await expect.poll(() => receiver.of('webhook.test').length, { timeout: 30_000 }).toBe(1);
  expect(receiver.of('webhook.test')[0].verifiedWith).toEqual([secret]);
  const log = page.getByRole('region', { name: 'Deliveries table' });
  const testRow = log.getByRole('row').filter({ hasText: 'webhook.test' });
  await expect(testRow).toContainText('Delivered');
  await expect(testRow).toContainText('200');
  await expect(testRow).toContainText(/\d+ ms/);
  await testRow.getByText('Answer').click();
  await expect(testRow).toContainText('thanks');
  await checkA11y(page, 'webhook page');
  await screenshots(page, 'webhook-deliveries', testInfo);

  // The receiver fails: the log says so with its answer; Retry from the log, once it is back.
  receiver.answer = { status: 500, text: 'broken on purpose' };
  await page.getByRole('button', { name: 'Send a test event' }).click();
  await expect.poll(() => receiver.of('webhook.test').length, { timeout: 30_000 }).toBe(2);
  const failed = receiver.of('webhook.test')[1];
  const failedRow = log.getByRole('row').filter({ hasText: '500' });
  await expect(failedRow).toHaveCount(1, { timeout: 15_000 });
  await failedRow.getByText('Answer').click();
  await expect(failedRow).toContainText('broken on purpose');
  receiver.answer = { status: 200, text: 'thanks again' };
  await failedRow.getByRole('button', { name: /^Retry/ }).click();
  // The same delivery again, with the same id: the receiver can tell it is the same event.
  await expect.poll(() => receiver.got.filter((r) => r.id === failed.id).map((r) => r.status), { timeout: 30_000 }).toEqual([500, 200]);
  await expect(log.getByRole('row').filter({ hasText: 'webhook.test' }).filter({ hasText: 'Delivered' })).toHaveCount(2, { timeout: 15_000 });

  // A real event: the user's video gets ready.
  const id = await uploadVideo(env.server, token, env.clips.tiny, { title: `Hooked ${name}`, visibility: 'public' });
  await waitReady(env.server, token, id);
  await expect.poll(() => receiver.of('video.ready').length, { timeout: 60_000 }).toBe(1);
  const ready = receiver.of('video.ready')[0];
  expect(ready.verifiedWith).toEqual([secret]);
  expect(ready.body).toContain(id);
  await expect(log.getByRole('row').filter({ hasText: 'video.ready' })).toContainText('Delivered', { timeout: 15_000 });

  // Rotate: the new secret shows once; during the overlap both sign.
  await page.getByRole('button', { name: 'Rotate the secret' }).click();
  const rotated = page.getByRole('region', { name: 'Signing secret' });
  const secret2 = (await rotated.getByLabel('Signing secret').textContent()) ?? '';
  expect(secret2).toMatch(/^whsec_/);
  expect(secret2).not.toBe(secret);
  await expect(rotated).toContainText('The previous secret keeps signing too until');
  receiver.secrets = [secret, secret2];
  await rotated.getByRole('button', { name: 'I saved it' }).click();
  await page.getByRole('button', { name: 'Send a test event' }).click();
  await expect.poll(() => receiver.of('webhook.test').length, { timeout: 30_000 }).toBeGreaterThanOrEqual(4);
  expect(receiver.of('webhook.test').at(-1)!.verifiedWith.sort()).toEqual([secret, secret2].sort());

  // Edit: a description and fewer events, kept after a reload.
  const edit = page.getByRole('region', { name: 'Edit' });
  await edit.getByLabel('Description (optional)').fill('Renamed app');
  await edit.getByRole('checkbox', { name: /Video created/ }).uncheck();
  await edit.getByRole('button', { name: 'Save the changes' }).click();
  await expect(edit.getByRole('status')).toHaveText('Saved.');
  await page.reload();
  await expect(page.getByText('Renamed app')).toBeVisible();
  await expect(page.getByRole('region', { name: 'Edit' }).getByRole('checkbox', { name: /Video created/ })).not.toBeChecked();

  // Delete.
  await page.getByRole('button', { name: 'Delete…' }).click();
  await page.getByRole('button', { name: 'Delete this endpoint' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Webhooks' })).toBeVisible();
  await expect(page.getByText('No endpoints yet.')).toBeVisible();
  const after = await fetch(`${env.server}/api/v1/webhooks`, { headers: { Authorization: `Bearer ${token}` } });
  expect(((await after.json()) as { webhooks: unknown[] }).webhooks).toEqual([]);
});

test('an admin’s instance-wide endpoint hears every account’s videos', async ({ page, env }, testInfo) => {
  const own = new Receiver();
  await own.start();
  try {
    await signInUI(page, env.admin.username, env.admin.password, '/me/webhooks');
    await page.getByLabel('URL').fill(own.url);
    await page.getByLabel('Description (optional)').fill('Instance audit');
    await page.getByRole('checkbox', { name: 'Instance-wide: every event of every account' }).check();
    await page.getByRole('button', { name: 'Add the endpoint' }).click();
    const box = page.getByRole('region', { name: 'Signing secret' });
    own.secrets = [(await box.getByLabel('Signing secret').textContent()) ?? ''];
    await box.getByRole('button', { name: 'I saved it' }).click();
    await expect(page.getByRole('list', { name: 'Endpoints' }).getByRole('listitem').filter({ hasText: own.url })).toContainText('instance-wide');
    await screenshots(page, 'webhooks-admin', testInfo);

    // Someone else's video.
    const other = uniqueName('hookother').toLowerCase();
    const token = await apiUser(env, other);
    const id = await uploadVideo(env.server, token, env.clips.tiny, { title: `Someone else ${other}`, visibility: 'public' });
    await waitReady(env.server, token, id);
    await expect.poll(() => own.of('video.ready').filter((r) => r.body.includes(id)).length, { timeout: 60_000 }).toBe(1);
    expect(own.of('video.ready').find((r) => r.body.includes(id))!.verifiedWith).toEqual(own.secrets);

    // Cleanup through the page: the endpoint would hear every later spec's videos.
    await page.getByRole('list', { name: 'Endpoints' }).getByRole('link', { name: own.url }).click();
    await page.getByRole('button', { name: 'Delete…' }).click();
    await page.getByRole('button', { name: 'Delete this endpoint' }).click();
    await expect(page.getByRole('list', { name: 'Endpoints' }).getByRole('link', { name: own.url })).toHaveCount(0);
  } finally {
    await own.stop();
  }
});
