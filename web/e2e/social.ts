// Helpers for the comment and moderation specs: users and videos made through the API (as
// another browser would), and JSON calls with a bearer token.

import { apiLogin, apiUser, uniqueName, PASSWORD } from './fixtures';
import { uploadVideo, waitReady, ADMIN } from './global-setup';
import type { E2eEnv } from './env';

export interface ApiUser {
  name: string;
  token: string;
}

/** A fresh user registered through the API (lowercase: the name is also a channel handle). */
export async function user(env: E2eEnv, prefix: string): Promise<ApiUser> {
  const name = uniqueName(prefix).toLowerCase();
  return { name, token: await apiUser(env, name, PASSWORD) };
}

export async function admin(env: E2eEnv): Promise<ApiUser> {
  return { name: ADMIN.username, token: await apiLogin(env, ADMIN.username, ADMIN.password) };
}

/** A call to the server with the user's token; the Response as it came. */
export async function call(env: E2eEnv, token: string | null, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${env.server}${path}`, {
    method,
    headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
}

/** A call that must succeed; its JSON (or null for 204). */
export async function json<T>(env: E2eEnv, token: string | null, method: string, path: string, body?: unknown): Promise<T> {
  const r = await call(env, token, method, path, body);
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return (text ? JSON.parse(text) : null) as T;
}

/** A ready public video of `owner` (the tiny clip). */
export async function readyVideo(env: E2eEnv, owner: ApiUser, title: string, extra: Record<string, unknown> = {}): Promise<string> {
  const id = await uploadVideo(env.server, owner.token, env.clips.tiny, { title, visibility: 'public', ...extra });
  await waitReady(env.server, owner.token, id);
  return id;
}

export interface ApiComment {
  id: string;
  thread_id: string;
  text?: string | null;
  held: boolean;
  held_reason?: string | null;
  deleted: boolean;
  pinned: boolean;
  replies: number;
  author?: { id: string; username: string } | null;
}

export async function comment(env: E2eEnv, u: ApiUser, video: string, text: string, inReplyTo?: string): Promise<ApiComment> {
  return json<ApiComment>(env, u.token, 'POST', `/api/v1/videos/${video}/comments`, { text, in_reply_to: inReplyTo });
}

export async function listComments(env: E2eEnv, token: string | null, video: string): Promise<{ items: ApiComment[]; total: number }> {
  return json(env, token, 'GET', `/api/v1/videos/${video}/comments?limit=100`);
}
