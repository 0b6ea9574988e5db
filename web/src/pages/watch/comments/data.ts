// The watch page's comments: one thread list per video, its replies, and the actions on one
// comment (the author's edit and delete, the owner's pin, the owner's and moderators' review).

import { api, ok, type Comment, type CommentPage } from '../../../api/client';

export type Sort = 'new' | 'top';

export async function comments(video: string, sort: Sort, cursor: string | undefined): Promise<CommentPage> {
  return ok(await api.GET('/api/v1/videos/{id}/comments', { params: { path: { id: video }, query: { sort, cursor, limit: 20 } } }));
}

export async function replies(video: string, comment: string, cursor: string | undefined): Promise<CommentPage> {
  return ok(
    await api.GET('/api/v1/videos/{id}/comments/{comment_id}/replies', {
      params: { path: { id: video, comment_id: comment }, query: { cursor, limit: 20 } },
    }),
  );
}

export async function post(video: string, text: string, inReplyTo?: string): Promise<Comment> {
  return ok(await api.POST('/api/v1/videos/{id}/comments', { params: { path: { id: video } }, body: { text, in_reply_to: inReplyTo } }));
}

export async function edit(video: string, comment: string, text: string): Promise<Comment> {
  return ok(
    await api.PATCH('/api/v1/videos/{id}/comments/{comment_id}', { params: { path: { id: video, comment_id: comment } }, body: { text } }),
  );
}

/** Throws the problem unless the answer is a success without a body. */
function done(r: { response: Response; error?: unknown }): void {
  if (!r.response.ok) ok(r);
}

export async function remove(video: string, comment: string): Promise<void> {
  done(await api.DELETE('/api/v1/videos/{id}/comments/{comment_id}', { params: { path: { id: video, comment_id: comment } } }));
}

export async function pin(video: string, comment: string, on: boolean): Promise<void> {
  const params = { path: { id: video, comment_id: comment } };
  done(on ? await api.PUT('/api/v1/videos/{id}/comments/{comment_id}/pin', { params }) : await api.DELETE('/api/v1/videos/{id}/comments/{comment_id}/pin', { params }));
}

export async function approve(video: string, comment: string): Promise<void> {
  done(await api.POST('/api/v1/videos/{id}/comments/{comment_id}/approve', { params: { path: { id: video, comment_id: comment } } }));
}

export async function reject(video: string, comment: string, ban: boolean, reason?: string): Promise<void> {
  done(
    await api.POST('/api/v1/videos/{id}/comments/{comment_id}/reject', {
      params: { path: { id: video, comment_id: comment } },
      body: { ban, reason: reason || undefined },
    }),
  );
}
