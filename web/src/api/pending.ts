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

/** Endpoints not in the document yet, in the generated `paths` shape (none at the moment: issue
 * 23's reports, queue, watched words, bans and mutes are in the document now). */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export type PendingPaths = {};

// A path both here and in the document: delete it here.
type Overlap = Extract<keyof PendingPaths, keyof paths>;
export const pendingPathsAreNotDocumented: [Overlap] extends [never] ? true : never = true;
