// What the console relies on that docs/openapi.json does not describe (yet), declared by hand.
//
// The endpoints that were declared here (GET /api/v1/users/me/streams, POST
// /api/v1/videos/{id}/retry, GET /api/v1/admin/users, GET /api/v1/admin/videos, cookie sign-in)
// are in the document now and come from the generated ./schema.d.ts. When a new endpoint is
// needed before the document lists it, add it to `PendingPaths` in openapi-typescript's `paths`
// shape; the check at the bottom stops the build once the document lists it too, which is the
// reminder to delete it here.

import type { components, paths } from './schema';

type S = components['schemas'];

/** An error body with its extra members (RFC 9457 lets problems carry more). */
export type ProblemBody = S['Problem'] & Record<string, unknown>;

/** One entry of a 429 `concurrent_limit_exceeded` problem's `actions` (the document describes
 * the problem only as `Problem`). */
export type LimitAction =
  | { action: 'stop_stream'; method: 'DELETE'; href: string; device_id: string }
  | { action: 'upgrade'; plan: S['Plan']; max_streams: number; href: string };

/** The body of 429 `concurrent_limit_exceeded` from `POST /api/v1/playback/sessions`. */
export type LimitProblem = S['Problem'] & {
  limit: number;
  plan: S['Plan'];
  devices: S['ActiveDevice'][];
  actions: LimitAction[];
};

/** The header a cookie-authenticated refresh or logout must carry (403 `csrf_required`
 * without it). */
export const CSRF_HEADER = 'X-Troupe-CSRF';

// ---- Issue 24 (accounts, the digest), declared from /work/wt/INTERFACES24.md until the
// server's document lists them.

type Json<T> = { content: { 'application/json': T } };
type NoBody = { headers: Record<string, unknown>; content?: never };
type Problemish = { headers: Record<string, unknown>; content: { 'application/problem+json': S['Problem'] } };
type NoParams = { query?: never; header?: never; path?: never; cookie?: never };
/** One operation: its parameters, JSON body (or none) and success answer (or none). */
type Op<Params, Body, Res> = {
  parameters: [Params] extends [never] ? NoParams : Params;
  responses: ([Res] extends [undefined] ? { 204: NoBody } : { 200: { headers: Record<string, unknown> } & Json<Res> }) & { default: Problemish };
} & ([Body] extends [undefined] ? { requestBody?: never } : { requestBody: Json<Body> });
type Methods = { parameters: NoParams; get?: never; put?: never; post?: never; delete?: never; options?: never; head?: never; patch?: never; trace?: never };
type Item<Ops> = Omit<Methods, keyof Ops> & Ops;

/** What issue 24 adds to an account (`GET /users/me`, the admin's lists). */
export interface AccountState {
  email_verified?: boolean;
  deletion_scheduled_at?: string | null;
}

/** The caller's daily digest (`GET/PUT /api/v1/users/me/digest-settings`). */
export interface DigestView {
  digest_hour: number;
  time_zone: string;
  last_sent_at?: string | null;
  next_due_at?: string | null;
  pending: number;
}

type Declared = {
  '/api/v1/auth/verify-email': Item<{ post: Op<never, { token: string }, undefined> }>;
  '/api/v1/users/me/verify-email': Item<{ post: Op<never, undefined, undefined> }>;
  '/api/v1/auth/password-reset': Item<{ post: Op<never, { email: string }, undefined> }>;
  '/api/v1/auth/password-reset/confirm': Item<{ post: Op<never, { token: string; password: string }, undefined> }>;
  '/api/v1/users/me/password': Item<{ put: Op<never, { current_password: string; new_password: string }, undefined> }>;
  '/api/v1/users/me/email': Item<{ put: Op<never, { current_password: string; email: string }, undefined> }>;
  '/api/v1/auth/email-change/confirm': Item<{ post: Op<never, { token: string }, undefined> }>;
  '/api/v1/auth/email-change/undo': Item<{ post: Op<never, { token: string }, undefined> }>;
  '/api/v1/users/me/digest-settings': Item<{
    get: Op<never, undefined, DigestView>;
    put: Op<never, { digest_hour?: number | null; time_zone?: string | null }, DigestView>;
  }>;
  '/api/v1/users/me/deletion/cancel': Item<{ post: Op<never, undefined, undefined> }>;
};

/** The declared paths the document does not list (yet). Issue 24's server parts land on main
 * one branch at a time, so a path the document lists wins over its declaration here instead of
 * breaking the build; delete the declarations once every part is merged. */
export type PendingPaths = Omit<Declared, keyof paths>;

/** Reads what issue 24 adds to an account, whether or not the document describes it yet. */
export function accountState(u: object): AccountState {
  const r = u as Record<string, unknown>;
  return {
    email_verified: typeof r.email_verified === 'boolean' ? r.email_verified : undefined,
    deletion_scheduled_at: typeof r.deletion_scheduled_at === 'string' ? r.deletion_scheduled_at : null,
  };
}
