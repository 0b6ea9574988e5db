// Moderation from the user's side: an admin makes a moderator, who reviews held comments from
// the queue; a report sent from where the video or comment stands, discussed in its thread and
// decided with a note the reporter reads; suspension from the admin users page (no sign-in, the
// account's comments gone) and unsuspension from the suspended accounts page; the audit log;
// mutes; a hidden video.

import type { Locator, Page } from '@playwright/test';
import { test, expect, signInUI, checkA11y, screenshots, PASSWORD } from './fixtures';
import { admin, call, comment, json, listComments, readyVideo, user, type ApiUser } from './social';
import type { E2eEnv } from './env';

function commentWith(page: Page, text: string): Locator {
  return page.getByRole('article').filter({ has: page.getByText(text, { exact: true }) }).last();
}

function nav(page: Page): Locator {
  return page.getByRole('navigation', { name: 'Main' });
}

async function makeModerator(env: E2eEnv, u: ApiUser): Promise<void> {
  const a = await admin(env);
  await json(env, a.token, 'PUT', `/api/v1/admin/users/${u.name}/role`, { role: 'moderator' });
}

test('an admin makes a moderator, who reviews held comments from the queue', async ({ page, env, newUserContext }, testInfo) => {
  const m = await user(env, 'mdm');
  const owner = await user(env, 'mdo');
  const a = await user(env, 'mda');
  const video = await readyVideo(env, owner, `Queue ${owner.name}`);

  await signInUI(page, env.admin.username, env.admin.password, '/admin');
  await page.getByLabel('Find a user').fill(m.name);
  await page.getByRole('button', { name: 'Find' }).click();
  const sw = page.getByRole('switch', { name: `Moderator: ${m.name}` }).first();
  await expect(sw).not.toBeChecked();
  // The switch turns once the server has answered (then the assertion below sees it).
  await sw.click();
  await expect(sw).toBeChecked();
  await page.reload();
  await page.getByLabel('Find a user').fill(m.name);
  await page.getByRole('button', { name: 'Find' }).click();
  await expect(page.getByRole('switch', { name: `Moderator: ${m.name}` }).first()).toBeChecked();

  // Two held comments, the older first in the queue.
  const older = await comment(env, a, video, 'Older https://example.org/1');
  await comment(env, a, video, 'Newer https://example.org/2');
  expect(older.held).toBe(true);

  const mp = await (await newUserContext()).newPage();
  await signInUI(mp, m.name, PASSWORD, '/');
  await nav(mp).getByRole('link', { name: 'Moderation' }).click();
  await expect(mp.getByRole('heading', { level: 1, name: 'Moderation queue' })).toBeVisible();
  await mp.getByLabel('Show').selectOption('held_comment');
  await expect(mp).toHaveURL(/kind=held_comment/);
  const items = mp.getByRole('list', { name: 'Queue' }).getByRole('listitem');
  const mine = items.filter({ hasText: `Queue ${owner.name}` });
  await expect(mine).toHaveCount(2);
  await expect(mine.first()).toContainText('Older https://example.org/1');
  await expect(mine.first()).toContainText(`Held comment by ${a.name}`);
  await expect(mine.first()).toContainText('held for a link');
  await checkA11y(mp, 'the moderation queue');
  await screenshots(mp, 'moderation-queue', testInfo);

  await mine.first().getByRole('button', { name: 'Approve' }).click();
  await expect(mp.getByRole('status').filter({ hasText: 'Approved.' })).toBeVisible();
  await expect(mine).toHaveCount(1);
  await expect.poll(async () => (await listComments(env, null, video)).items.map((c) => c.text)).toEqual(['Older https://example.org/1']);
  await mine.first().getByRole('button', { name: 'Reject', exact: true }).click();
  await expect(mine).toHaveCount(0);
  await mp.reload();
  await expect(items.filter({ hasText: `Queue ${owner.name}` })).toHaveCount(0);

  // A moderator also reviews right under the video.
  await comment(env, a, video, 'Third https://example.org/3');
  await mp.goto(`/watch/${video}`);
  const third = commentWith(mp, 'Third https://example.org/3');
  await expect(third).toContainText('Held for review');
  await third.getByRole('group', { name: 'Review' }).getByRole('button', { name: 'Approve' }).click();
  await expect(third).not.toContainText('Held for review');

  // The role taken back: the queue is closed to them.
  await page.getByRole('switch', { name: `Moderator: ${m.name}` }).first().click();
  await expect(page.getByRole('switch', { name: `Moderator: ${m.name}` }).first()).not.toBeChecked();
  await mp.goto('/moderation');
  await expect(mp.getByRole('heading', { name: 'Moderators only' })).toBeVisible();
});

test('a report from the watch page: its thread, the decision with a note, and what the reporter reads', async ({ page, env, newUserContext, consoleLog }, testInfo) => {
  // The second report of the same video while the first is pending: 409 duplicate_report.
  consoleLog.allow(/status of 409 \(Conflict\)/);
  const owner = await user(env, 'rpo');
  const r = await user(env, 'rpr');
  const x = await user(env, 'rpx');
  const video = await readyVideo(env, owner, `Reported ${owner.name}`);
  await comment(env, x, video, 'A rude comment');

  await signInUI(page, r.name, PASSWORD, `/watch/${video}`);
  // The video, a part of it.
  await page.locator('.watch-actions').getByRole('button', { name: 'Report' }).click();
  let dialog = page.getByRole('dialog', { name: 'Report this video' });
  await dialog.getByRole('radio', { name: 'Spam' }).check();
  await dialog.getByRole('checkbox', { name: 'Only a part of the video' }).check();
  await dialog.getByLabel('From').fill('0:01');
  await dialog.getByLabel('To').fill('0:02');
  await dialog.getByLabel('Details').fill('Selling <b>pills</b> here');
  await checkA11y(page, 'the report dialog');
  await dialog.getByRole('button', { name: 'Send report' }).click();
  await expect(dialog.getByText('Your report was sent')).toBeVisible();
  await dialog.getByRole('button', { name: 'Close' }).click();

  // The same again while it is pending: the server says no, and the dialog says why.
  await page.locator('.watch-actions').getByRole('button', { name: 'Report' }).click();
  dialog = page.getByRole('dialog', { name: 'Report this video' });
  await dialog.getByRole('radio', { name: 'Spam' }).check();
  // Details are required: the dialog says so before asking the server.
  await dialog.getByRole('button', { name: 'Send report' }).click();
  await expect(dialog.getByRole('alert')).toContainText('details are required');
  await dialog.getByLabel('Details').fill('Still selling pills');
  await dialog.getByRole('button', { name: 'Send report' }).click();
  await expect(dialog.getByRole('alert')).toBeVisible();
  await expect(dialog.getByRole('alert')).not.toContainText('details are required');
  await dialog.getByRole('button', { name: 'Cancel' }).click();

  // A comment, from where it stands.
  const rude = commentWith(page, 'A rude comment');
  await rude.getByRole('group', { name: /^Actions on/ }).getByRole('button', { name: 'Report' }).click();
  dialog = page.getByRole('dialog', { name: `Report the comment by ${x.name}` });
  await dialog.getByRole('radio', { name: 'Harassment or bullying' }).check();
  await dialog.getByLabel('Details').fill('Insults another viewer');
  await dialog.getByRole('button', { name: 'Send report' }).click();
  await expect(dialog.getByText('Your report was sent')).toBeVisible();
  await dialog.getByRole('button', { name: 'Close' }).click();

  // A moderator (the admin is one) takes the video report from the queue.
  const mp = await (await newUserContext()).newPage();
  await signInUI(mp, env.admin.username, env.admin.password, '/moderation?kind=report');
  const entry = mp.getByRole('list', { name: 'Queue' }).getByRole('listitem').filter({ hasText: `Reported ${owner.name}` });
  await expect(entry).toHaveCount(1);
  await expect(entry).toContainText('(0:01 to 0:02)');
  await expect(entry).toContainText('Selling <b>pills</b> here');
  await entry.getByRole('link', { name: 'Spam' }).click();
  await expect(mp.getByRole('heading', { level: 1, name: 'Report: Spam' })).toBeVisible();
  await mp.getByLabel('Write to the reporter').fill('Which part exactly?');
  await mp.getByRole('button', { name: 'Send message' }).click();
  await expect(mp.getByRole('list', { name: 'Messages' })).toContainText('Which part exactly?');
  await mp.getByLabel('State').selectOption('accepted');
  await mp.getByLabel('Note to the reporter').fill('Removed the spam, thanks.');
  await mp.getByRole('button', { name: 'Save decision' }).click();
  await expect(mp.getByText('Saved.')).toBeVisible();
  await checkA11y(mp, 'a report for a moderator');
  await screenshots(mp, 'moderation-report', testInfo);

  // The reporter: the list, the state, the note, the thread, and an answer.
  await page.goto('/me/reports');
  const mine = page.getByRole('list', { name: 'My reports' }).getByRole('listitem');
  await expect(mine).toHaveCount(2);
  await mine.filter({ hasText: `Reported ${owner.name}` }).getByRole('link', { name: 'Spam' }).click();
  await expect(page.getByText('Accepted', { exact: true })).toBeVisible();
  await expect(page.getByText('Removed the spam, thanks.')).toBeVisible();
  await expect(page.getByRole('list', { name: 'Messages' })).toContainText('Which part exactly?');
  await page.getByLabel('Write to the moderators').fill('From 0:01 to 0:02.');
  await page.getByRole('button', { name: 'Send message' }).click();
  await expect(page.getByRole('list', { name: 'Messages' }).getByRole('listitem')).toHaveCount(2);
  await screenshots(page, 'my-report', testInfo);
  await mp.reload();
  await expect(mp.getByRole('list', { name: 'Messages' })).toContainText('From 0:01 to 0:02.');

  // And the reporter was told of the decision.
  await page.goto('/me/notifications');
  await expect(page.getByRole('list', { name: 'Notifications' })).toContainText('The moderators marked your report as accepted');
});

test('suspension from the admin users page; unsuspension from the suspended accounts page; the audit log', async ({ page, env, newUserContext, consoleLog }, testInfo) => {
  consoleLog.allow(/status of 403 \(Forbidden\)/);
  const owner = await user(env, 'spo');
  const s = await user(env, 'sps');
  const video = await readyVideo(env, owner, `Suspension ${owner.name}`);
  await comment(env, s, video, 'Before the suspension');
  expect((await listComments(env, null, video)).total).toBe(1);

  await signInUI(page, env.admin.username, env.admin.password, '/admin');
  await page.getByLabel('Find a user').fill(s.name);
  await page.getByRole('button', { name: 'Find' }).click();
  await page.getByRole('button', { name: `Suspend ${s.name}`, exact: true }).first().click();
  await page.getByLabel(`Why suspend ${s.name}`).fill('spam wave');
  await page.getByRole('button', { name: `Suspend ${s.name} now` }).click();
  await expect(page.getByRole('button', { name: `Unsuspend ${s.name}` }).first()).toBeVisible();

  // No sign-in (the page says why), no request.
  const sp = await (await newUserContext()).newPage();
  await sp.goto('/signin');
  await sp.getByLabel('Username or email').fill(s.name);
  await sp.getByLabel('Password').fill(PASSWORD);
  await sp.getByRole('button', { name: 'Sign in' }).click();
  await expect(sp.getByRole('alert')).toContainText('spam wave');
  expect((await call(env, s.token, 'POST', `/api/v1/videos/${video}/comments`, { text: 'still here?' })).status).toBe(403);

  await page.goto('/moderation/suspended');
  const row = page.getByRole('list', { name: 'Suspended accounts' }).getByRole('listitem').filter({ hasText: s.name });
  await expect(row).toContainText('spam wave');
  await checkA11y(page, 'the suspended accounts');
  await screenshots(page, 'moderation-suspended', testInfo);
  await row.getByRole('button', { name: `Unsuspend ${s.name}` }).click();
  await expect(page.getByRole('status').filter({ hasText: `${s.name} may sign in again.` })).toBeVisible();
  await signInUI(sp, s.name, PASSWORD, `/watch/${video}`);
  await expect(commentWith(sp, 'Before the suspension')).toBeVisible();

  // The audit log has both, newest or oldest first, with who and why.
  await page.goto('/moderation/audit');
  const table = page.getByRole('table');
  await expect(table.getByRole('row').filter({ hasText: s.name }).filter({ hasText: 'user.suspend' })).toContainText('spam wave');
  await expect(table.getByRole('row').filter({ hasText: s.name }).filter({ hasText: /user\.unsuspend/ })).toHaveCount(1);
  await checkA11y(page, 'the audit log');
  await screenshots(page, 'moderation-audit', testInfo);
});

test('a user mutes an account from its comment, and unmutes it in the account settings', async ({ page, env }, testInfo) => {
  const owner = await user(env, 'muo');
  const x = await user(env, 'mux');
  const v = await user(env, 'muv');
  const video = await readyVideo(env, owner, `Mutes ${owner.name}`);
  await comment(env, x, video, 'Noise from X');
  await comment(env, owner, video, 'The owner speaks');

  await signInUI(page, v.name, PASSWORD, `/watch/${video}`);
  await commentWith(page, 'Noise from X').getByRole('button', { name: `Mute ${x.name}` }).click();
  await expect(page.getByText('Noise from X', { exact: true })).toHaveCount(0);
  await expect(page.getByRole('status').filter({ hasText: `Muted ${x.name}` })).toBeVisible();
  await page.reload();
  await expect(commentWith(page, 'The owner speaks')).toBeVisible();
  await expect(page.getByText('Noise from X', { exact: true })).toHaveCount(0);
  // Nor live.
  await comment(env, x, video, 'More noise');
  await comment(env, owner, video, 'The owner again');
  await expect(commentWith(page, 'The owner again')).toBeVisible({ timeout: 15_000 });
  await expect(page.getByText('More noise', { exact: true })).toHaveCount(0);

  await page.goto('/account');
  const muted = page.getByRole('list', { name: 'Muted accounts' });
  await expect(muted).toContainText(x.name);
  await screenshots(page, 'account-mutes', testInfo);
  await page.getByRole('button', { name: `Unmute ${x.name}` }).click();
  await expect(page.getByText('You have muted nobody.')).toBeVisible();
  await page.goto(`/watch/${video}`);
  await expect(commentWith(page, 'Noise from X')).toBeVisible();
});

test('a moderator hides a video: its owner sees why, everyone else finds nothing', async ({ page, env, newUserContext, consoleLog }) => {
  const owner = await user(env, 'hvo');
  const m = await user(env, 'hvm');
  await makeModerator(env, m);
  const video = await readyVideo(env, owner, `Hidden ${owner.name}`);

  await signInUI(page, m.name, PASSWORD, `/watch/${video}`);
  await page.getByRole('button', { name: 'Hide…' }).click();
  await page.getByLabel('Why (the owner sees it)').fill('misleading title');
  await page.getByRole('button', { name: 'Hide video' }).click();
  await expect(page.getByRole('button', { name: 'Unhide' })).toBeVisible();

  const op = await (await newUserContext()).newPage();
  await signInUI(op, owner.name, PASSWORD, `/watch/${video}`);
  await expect(op.getByRole('note')).toContainText('The moderators hid this video: misleading title');

  consoleLog.allow(/status of 404/);
  const anon = await (await newUserContext()).newPage();
  await anon.goto(`/watch/${video}`);
  await expect(anon.getByRole('heading', { name: 'This video is not available' })).toBeVisible();

  await page.getByRole('button', { name: 'Unhide' }).click();
  await expect(page.getByRole('button', { name: 'Hide…' })).toBeVisible();
  await anon.reload();
  await expect(anon.getByRole('heading', { level: 1, name: `Hidden ${owner.name}` })).toBeVisible();
});
