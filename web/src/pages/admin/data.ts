import { api, apiFetch, ok, problemOf, type ClusterView, type Plan, type GrantableRole, type User, type VideoPage } from '../../api/client';

export async function users(cursor: string | undefined): Promise<{ items: User[]; next_cursor?: string | null }> {
  // Items are `Me` (the account with its limits); the table shows the `UserView` part.
  return ok(await api.GET('/api/v1/admin/users', { params: { query: { limit: 50, cursor } } }));
}

export async function user(username: string): Promise<User> {
  return ok(await api.GET('/api/v1/admin/users/{username}', { params: { path: { username } } }));
}

export async function setPlan(username: string, plan: Plan): Promise<User> {
  return ok(await api.PUT('/api/v1/admin/users/{username}/plan', { params: { path: { username } }, body: { plan } }));
}

export async function cluster(): Promise<ClusterView> {
  return ok(await api.GET('/api/v1/cluster'));
}

export async function failed(cursor: string | undefined): Promise<VideoPage> {
  return ok(await api.GET('/api/v1/admin/videos', { params: { query: { state: 'failed', limit: 24, cursor } } }));
}

/** Grants or takes the moderator role (admins only); answers the account as it is now. */
export async function setRole(username: string, role: GrantableRole): Promise<User> {
  const r = await api.PUT('/api/v1/admin/users/{username}/role', { params: { path: { username } }, body: { role } });
  if (!r.response.ok) ok(r);
  return user(username);
}

/** Marks an account's address confirmed or not (issue 24); answers the account as it is now. */
export async function setEmailVerified(username: string, email_verified: boolean): Promise<User> {
  // PATCH on the admin's user path, which the document lists only with GET so far.
  const res = await apiFetch(`/api/v1/admin/users/${encodeURIComponent(username)}`, {
    method: 'PATCH',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email_verified }),
  });
  if (!res.ok) throw await problemOf(res);
  await res.body?.cancel();
  return user(username);
}

/** Deletes an account at once, with a reason for the audit log (issue 24). */
export async function deleteUserNow(username: string, reason: string): Promise<void> {
  const res = await apiFetch(`/api/v1/admin/users/${encodeURIComponent(username)}`, {
    method: 'DELETE',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ reason }),
  });
  if (!res.ok) throw await problemOf(res);
  await res.body?.cancel();
}
