import { api, ok, type ClusterView, type Plan, type GrantableRole, type User, type VideoPage } from '../../api/client';

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
