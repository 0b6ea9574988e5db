// Comments under the watch page, from the user's side: post, reply, edit, delete (a deleted
// comment with replies stays as a placeholder), pin, sort, more, live arrivals without a reload,
// text full of markup and invisible characters rendered as text, links as rel="nofollow ugc",
// held comments and the owner's review (approve, reject, reject and ban), the comment policy in
// the owner's edit form and the channel's default, watched words, and the server's refusals
// (comments off, duplicates) said in words.

import type { Locator, Page } from '@playwright/test';
import { test, expect, signInUI, checkA11y, screenshots, PASSWORD } from './fixtures';
import { call, comment, json, listComments, readyVideo, user, type ApiComment } from './social';

/** The innermost comment showing `text` (a comment's article holds its replies' articles). */
function commentWith(page: Page | Locator, text: string): Locator {
  return page.getByRole('article').filter({ has: page.getByText(text, { exact: true }) }).last();
}

/** The comment's own actions (not those of its replies). */
function actions(c: Locator): Locator {
  return c.getByRole('group', { name: /^Actions on the/ }).first();
}

function heading(page: Page): Locator {
  return page.getByRole('heading', { level: 2, name: /^(\d+ comments?|Comments)$/ });
}

function list(page: Page): Locator {
  return page.getByRole('list', { name: 'Comments', exact: true });
}

test('post, reply, edit and delete; a deleted comment with replies stays as a placeholder', async ({ page, env }, testInfo) => {
  const owner = await user(env, 'cmown');
  const a = await user(env, 'cma');
  const video = await readyVideo(env, owner, `Talk about it ${owner.name}`);

  await signInUI(page, a.name, PASSWORD, `/watch/${video}`);
  await expect(heading(page)).toHaveText('0 comments');
  await expect(page.getByText('No comments yet.')).toBeVisible();

  await page.getByLabel('Add a comment').fill('Hello from A');
  await page.getByRole('button', { name: 'Comment', exact: true }).click();
  const first = commentWith(page, 'Hello from A');
  await expect(first).toBeVisible();
  await expect(first).toHaveAccessibleName(`Comment by ${a.name}`);
  await expect(heading(page)).toHaveText('1 comment');
  await expect(page.getByLabel('Add a comment')).toHaveValue('');

  // A reply, in the thread.
  await actions(first).getByRole('button', { name: 'Reply' }).click();
  await first.getByLabel(`Reply to ${a.name}`).fill('And a reply to myself');
  await first.getByRole('button', { name: 'Reply', exact: true }).last().click();
  const reply = commentWith(page, 'And a reply to myself');
  await expect(reply).toBeVisible();
  await expect(first.getByRole('list', { name: `Replies to the comment by ${a.name}` })).toContainText('And a reply to myself');
  await expect(heading(page)).toHaveText('2 comments');

  // An edit says so, with the time, and stays after a reload.
  await actions(first).getByRole('button', { name: 'Edit' }).click();
  // While it is edited, its text is in the box: the thread is the first of the list.
  const editing = list(page).locator(':scope > li > article').first();
  await editing.getByLabel('Edit your comment').fill('Hello from A, edited');
  await editing.getByRole('button', { name: 'Save' }).click();
  const edited = commentWith(page, 'Hello from A, edited');
  await expect(edited).toContainText('(edited');
  await page.reload();
  await expect(commentWith(page, 'Hello from A, edited')).toContainText('(edited');
  await checkA11y(page, 'the comments under a video');
  await screenshots(page, 'comments', testInfo);

  // Deleting the comment that has a reply leaves a placeholder; the reply stays.
  const top = commentWith(page, 'Hello from A, edited');
  await actions(top).getByRole('button', { name: 'Delete' }).click();
  await top.getByRole('button', { name: 'Yes, delete' }).click();
  const placeholder = list(page).getByRole('article', { name: 'Deleted comment' });
  await expect(placeholder).toContainText('This comment was deleted.');
  // No author: the head of the placeholder says "deleted", not who wrote it.
  await expect(placeholder.getByRole('paragraph').first()).not.toContainText(a.name);
  await expect(commentWith(page, 'And a reply to myself')).toBeVisible();
  await page.reload();
  await expect(list(page).getByRole('article', { name: 'Deleted comment' })).toContainText('deleted');
  await expect(commentWith(page, 'And a reply to myself')).toBeVisible();
  await expect(heading(page)).toHaveText('1 comment');
  // What the server says: a tombstone with no author and no text.
  const listed = await listComments(env, a.token, video);
  expect(listed.items[0]).toMatchObject({ deleted: true, author: null, text: null });

  // Deleting the reply, which nothing answers, removes it.
  const r = commentWith(page, 'And a reply to myself');
  await actions(r).getByRole('button', { name: 'Delete' }).click();
  await r.getByRole('button', { name: 'Yes, delete' }).click();
  await expect(page.getByText('And a reply to myself', { exact: true })).toHaveCount(0);
  await page.reload();
  await expect(page.getByText('And a reply to myself', { exact: true })).toHaveCount(0);
  await expect(heading(page)).toHaveText('0 comments');
});

test('the owner pins a comment; top comments; more comments; replies on request', async ({ page, env }) => {
  const owner = await user(env, 'cpown');
  const video = await readyVideo(env, owner, `Many comments ${owner.name}`);
  // 23 comments from several people (the rate limit is per user), one with 4 replies.
  const people = await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map((i) => user(env, `cp${i}`)));
  const made: ApiComment[] = [];
  for (let i = 0; i < 23; i++) made.push(await comment(env, people[i % 8], video, `Comment number ${i}`));
  const popular = made[3];
  for (let i = 0; i < 4; i++) await comment(env, people[(i + 4) % 8], video, `Answer ${i} to number 3`, popular.id);

  await signInUI(page, owner.name, PASSWORD, `/watch/${video}`);
  await expect(heading(page)).toHaveText('27 comments');
  const top = list(page).locator(':scope > li');
  await expect(top).toHaveCount(20);
  // Newest first.
  await expect(top.first()).toContainText('Comment number 22');
  await page.getByRole('button', { name: 'More comments' }).click();
  await expect(top).toHaveCount(23);
  await expect(top.last()).toContainText('Comment number 0');
  await expect(page.getByRole('button', { name: 'More comments' })).toHaveCount(0);

  // The first three replies come with the thread; the rest on request.
  const thread = commentWith(page, 'Comment number 3');
  const replies = thread.getByRole('list', { name: /^Replies to/ }).getByRole('listitem');
  await expect(replies).toHaveCount(3);
  await thread.getByRole('button', { name: 'Show all 4 replies' }).click();
  await expect(replies).toHaveCount(4);
  await expect(replies.last()).toContainText('Answer 3 to number 3');

  // Pin number 10: it goes first, and stays first after a reload.
  const ten = commentWith(page, 'Comment number 10');
  await actions(ten).getByRole('button', { name: 'Pin' }).click();
  await expect(top.first()).toContainText('Comment number 10');
  await expect(top.first().getByText('Pinned')).toBeVisible();
  await page.reload();
  await expect(top.first()).toContainText('Comment number 10');
  await expect(top.first().getByText('Pinned')).toBeVisible();

  // Top: the pin first, then the most replies.
  await page.getByLabel('Sort by').selectOption('top');
  await expect(top.nth(1)).toContainText('Comment number 3');
  await expect(top.first()).toContainText('Comment number 10');

  // Unpin.
  await actions(commentWith(page, 'Comment number 10')).getByRole('button', { name: 'Unpin' }).click();
  await expect(page.getByText('Pinned', { exact: true })).toHaveCount(0);
  await page.getByLabel('Sort by').selectOption('new');
  await expect(top.first()).toContainText('Comment number 22');
});

test('new comments, replies, edits and deletes arrive live, without a reload', async ({ page, env }) => {
  const owner = await user(env, 'clown');
  const b = await user(env, 'clb');
  const video = await readyVideo(env, owner, `Live talk ${owner.name}`);
  const watcher = await user(env, 'clw');
  await signInUI(page, watcher.name, PASSWORD, `/watch/${video}`);
  await expect(heading(page)).toHaveText('0 comments');
  const loads: string[] = [];
  page.on('framenavigated', (f) => {
    if (f === page.mainFrame()) loads.push(f.url());
  });

  const c = await comment(env, b, video, 'Arrives live');
  await expect(commentWith(page, 'Arrives live')).toBeVisible({ timeout: 15_000 });
  await expect(heading(page)).toHaveText('1 comment');
  await comment(env, owner, video, 'A live reply', c.id);
  await expect(commentWith(page, 'Arrives live').getByRole('list', { name: /^Replies to/ })).toContainText('A live reply', { timeout: 15_000 });
  await json(env, b.token, 'PATCH', `/api/v1/videos/${video}/comments/${c.id}`, { text: 'Arrives live, then edited' });
  await expect(commentWith(page, 'Arrives live, then edited')).toContainText('(edited', { timeout: 15_000 });
  const d = await comment(env, b, video, 'Soon gone');
  await expect(commentWith(page, 'Soon gone')).toBeVisible({ timeout: 15_000 });
  expect((await call(env, b.token, 'DELETE', `/api/v1/videos/${video}/comments/${d.id}`)).status).toBe(204);
  await expect(page.getByText('Soon gone', { exact: true })).toHaveCount(0, { timeout: 15_000 });
  expect(loads).toEqual([]);

  // Anonymous viewers see them too, and are asked to sign in to comment.
  const anon = await page.context().browser()!.newContext({ baseURL: env.base });
  const p2 = await anon.newPage();
  await p2.goto(`/watch/${video}`);
  await expect(commentWith(p2, 'Arrives live, then edited')).toBeVisible();
  await expect(p2.getByRole('link', { name: 'Sign in to comment' })).toBeVisible();
  await comment(env, b, video, 'Seen by the anonymous too');
  await expect(commentWith(p2, 'Seen by the anonymous too')).toBeVisible({ timeout: 15_000 });
  await anon.close();
});

test('markup and invisible characters render as text; a link holds the comment; the owner approves, rejects, and rejects and bans', async ({
  page,
  env,
  newUserContext,
  consoleLog,
}, testInfo) => {
  consoleLog.allow(/status of 403 \(Forbidden\)/);
  const owner = await user(env, 'chown');
  const a = await user(env, 'cha');
  const video = await readyVideo(env, owner, `Held ones ${owner.name}`);
  const hostile =
    `<script>window.__xss=1</script><img src=x onerror="window.__xss=2"> <b>bold?</b> ` +
    `\u202Eesrever\u202C zero\u200Bwidth \u2066iso\u2069 see https://example.org/a?b=1 now @${owner.name}`;

  await signInUI(page, a.name, PASSWORD, `/watch/${video}`);
  await page.getByLabel('Add a comment').fill(hostile);
  await page.getByRole('button', { name: 'Comment', exact: true }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Your comment is held for review' })).toBeVisible();
  const held = list(page).getByRole('article', { name: `Comment by ${a.name}` });
  await expect(held).toContainText('Held for review');
  // Exactly the text as typed, as text: no element from it, no script run.
  await expect(held.locator('.comment-text')).toHaveText(hostile, { useInnerText: false });
  expect(await page.locator('main .comment-text b, main .comment-text img, main .comment-text script').count()).toBe(0);
  expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
  const link = held.getByRole('link', { name: 'https://example.org/a?b=1' });
  await expect(link).toHaveAttribute('rel', /nofollow/);
  await expect(link).toHaveAttribute('rel', /ugc/);
  await expect(held.getByRole('link', { name: `@${owner.name}` })).toBeVisible();
  // Nobody else sees it: not an anonymous viewer, not another user.
  expect((await listComments(env, null, video)).items).toHaveLength(0);

  // The owner sees why it is held and approves it.
  const ownerCtx = await newUserContext();
  const op = await ownerCtx.newPage();
  await signInUI(op, owner.name, PASSWORD, `/watch/${video}`);
  const forOwner = list(op).getByRole('article', { name: `Comment by ${a.name}` });
  await expect(forOwner).toContainText('Held for review: it has a link');
  await checkA11y(op, 'a held comment for the owner');
  await screenshots(op, 'comments-held', testInfo);
  await forOwner.getByRole('group', { name: 'Review' }).getByRole('button', { name: 'Approve' }).click();
  await expect(forOwner).not.toContainText('Held for review');
  await expect.poll(async () => (await listComments(env, null, video)).items.length).toBe(1);
  await page.reload();
  await expect(held).not.toContainText('Held for review');

  // Reject: gone for everyone.
  await comment(env, a, video, 'Another link https://example.org/two');
  await op.reload();
  const second = commentWith(op, 'Another link https://example.org/two');
  await second.getByRole('group', { name: 'Review' }).getByRole('button', { name: 'Reject', exact: true }).click();
  await expect(op.getByText('Another link https://example.org/two', { exact: true })).toHaveCount(0);
  expect((await listComments(env, a.token, video)).items.map((c) => c.text)).not.toContain('Another link https://example.org/two');

  // Reject and ban: A may no longer comment on the channel, and the page says so.
  await comment(env, a, video, 'A third link https://example.org/three');
  await op.reload();
  const third = commentWith(op, 'A third link https://example.org/three');
  await third.getByRole('group', { name: 'Review' }).getByRole('button', { name: 'Reject and ban' }).click();
  await third.getByLabel('Why (the audit log keeps it)').fill('link spam');
  await third.getByRole('button', { name: `Reject and ban ${a.name}` }).click();
  await expect(op.getByText('A third link https://example.org/three', { exact: true })).toHaveCount(0);
  await page.reload();
  await page.getByLabel('Add a comment').fill('Am I still here?');
  await page.getByRole('button', { name: 'Comment', exact: true }).click();
  await expect(page.getByRole('alert')).toContainText('you may not comment on this channel');
  const refused = await call(env, a.token, 'POST', `/api/v1/videos/${video}/comments`, { text: 'Trying again' });
  expect(refused.status).toBe(403);
  expect(((await refused.json()) as { code: string }).code).toBe('banned_from_channel');

});

test('the comment policy: off and approval in the owner’s edit form, the channel default, a duplicate refused', async ({ page, env, newUserContext, consoleLog }) => {
  consoleLog.allow(/status of 409 \(Conflict\)/);
  const owner = await user(env, 'cpol');
  const v = await user(env, 'cpv');
  const video = await readyVideo(env, owner, `Policy ${owner.name}`);

  await signInUI(page, owner.name, PASSWORD, `/watch/${video}`);
  await page.getByRole('button', { name: 'Edit details' }).click();
  await page.getByLabel('Comments', { exact: true }).selectOption('disabled');
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByText('Saved.')).toBeVisible();
  await expect(page.getByText('Comments are turned off for this video.')).toBeVisible();
  const off = await call(env, v.token, 'POST', `/api/v1/videos/${video}/comments`, { text: 'Can I?' });
  expect(off.status).toBe(403);
  expect(((await off.json()) as { code: string }).code).toBe('comments_disabled');

  // Approval: the viewer's comment waits, and the viewer is told.
  await page.getByRole('button', { name: 'Edit details' }).click();
  await page.getByLabel('Comments', { exact: true }).selectOption('approval');
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByText('Saved.')).toBeVisible();
  const vc = await newUserContext();
  const vp = await vc.newPage();
  await signInUI(vp, v.name, PASSWORD, `/watch/${video}`);
  await expect(vp.getByText('Comments on this video are shown once the owner approves them.')).toBeVisible();
  await vp.getByLabel('Add a comment').fill('Waiting for approval');
  await vp.getByRole('button', { name: 'Comment', exact: true }).click();
  await expect(commentWith(vp, 'Waiting for approval')).toContainText('Held for review');
  await page.reload();
  await expect(commentWith(page, 'Waiting for approval')).toContainText('Held for review: the channel approves every comment');

  // The same text again within minutes: the server's word for it.
  await vp.getByLabel('Add a comment').fill('Waiting for approval');
  await vp.getByRole('button', { name: 'Comment', exact: true }).click();
  await expect(vp.getByRole('alert')).toContainText('the same text');

  // The channel's default for new videos, and its watched words.
  await page.goto('/me/channels');
  await page.getByRole('button', { name: `Edit ${owner.name}` }).click();
  await page.getByLabel('Comments on new videos').selectOption('approval');
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByRole('dialog')).toHaveCount(0);
  const ch = await json<{ default_comment_policy: string }>(env, null, 'GET', `/api/v1/channels/${owner.name}`);
  expect(ch.default_comment_policy).toBe('approval');
  await page.getByRole('button', { name: `Edit ${owner.name}` }).click();
  await page.getByLabel('Comments on new videos').selectOption('enabled');
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByRole('dialog')).toHaveCount(0);
  const later = await readyVideo(env, owner, `After the default ${owner.name}`);
  expect((await json<{ comment_policy: string }>(env, owner.token, 'GET', `/api/v1/videos/${later}`)).comment_policy).toBe('enabled');
});

test('a channel’s watched words hold the comments that have them', async ({ page, env }) => {
  const owner = await user(env, 'cww');
  const v = await user(env, 'cwv');
  await signInUI(page, owner.name, PASSWORD, '/me/channels');
  await page.getByRole('button', { name: `Comment moderation for ${owner.name}` }).click();
  const dialog = page.getByRole('dialog', { name: `Comments on @${owner.name}` });
  await dialog.getByRole('button', { name: 'Add a list' }).click();
  await dialog.getByLabel('Name').fill('fruit');
  await dialog.getByLabel('Words, one a line').fill('bananas\nkiwi');
  await dialog.getByRole('button', { name: 'Save watched words' }).click();
  await expect(dialog.getByText('Saved.')).toBeVisible();
  await dialog.getByRole('button', { name: 'Close' }).click();
  const words = await json<{ lists: { name: string; words: string[] }[] }>(env, owner.token, 'GET', `/api/v1/channels/${owner.name}/watched-words`);
  expect(words.lists).toEqual([{ name: 'fruit', words: ['bananas', 'kiwi'] }]);

  const video2 = await readyVideo(env, owner, `Words ${owner.name}`);
  const c = await comment(env, v, video2, 'I really like bananas');
  // The author sees it held; why is for the owner and moderators only.
  expect(c).toMatchObject({ held: true, held_reason: null });
  const asOwner = (await listComments(env, owner.token, video2)).items.find((x) => x.id === c.id);
  expect(asOwner).toMatchObject({ held: true, held_reason: 'watched_word' });
  await page.goto(`/watch/${video2}`);
  await expect(commentWith(page, 'I really like bananas')).toContainText('Held for review: it has a watched word');
});

test('the channel’s owner lifts a ban in My channels', async ({ page, env }) => {
  const owner = await user(env, 'cbown');
  const a = await user(env, 'cba');
  const video = await readyVideo(env, owner, `Bans ${owner.name}`);
  const c = await comment(env, a, video, 'Spam https://example.org/spam');
  expect(c.held).toBe(true);
  expect((await call(env, owner.token, 'POST', `/api/v1/videos/${video}/comments/${c.id}/reject`, { ban: true, reason: 'spam' })).status).toBe(204);
  expect((await call(env, a.token, 'POST', `/api/v1/videos/${video}/comments`, { text: 'Let me in' })).status).toBe(403);
  await signInUI(page, owner.name, PASSWORD, '/me/channels');
  const op = page;
  await op.goto('/me/channels');
  await op.getByRole('button', { name: `Comment moderation for ${owner.name}` }).click();
  const dialog = op.getByRole('dialog', { name: `Comments on @${owner.name}` });
  await expect(dialog.getByRole('list', { name: 'Banned accounts' })).toContainText(a.name);
  await dialog.getByRole('button', { name: `Lift the ban on ${a.name}` }).click();
  await expect(dialog.getByText('Nobody is banned.')).toBeVisible();
  expect((await call(env, a.token, 'POST', `/api/v1/videos/${video}/comments`, { text: 'Back again' })).status).toBe(201);
});
