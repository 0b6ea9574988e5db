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

// ---------------------------------------------------------------------------------------------
// Issue 23 (comments and moderation), declared by hand from /work/wt/INTERFACES23.md while the
// server side is being built. Each one goes once the document lists it.

export type PendingReportReason = 'spam' | 'harassment' | 'violent' | 'sexual' | 'copyright' | 'privacy' | 'other';
export type PendingReportState = 'pending' | 'accepted' | 'rejected';

/** What a report is about, as the reporter sends it. */
export type PendingReportTarget =
  | { video: { id: string; start?: number | null; end?: number | null } }
  | { comment: { video_id: string; id: string } }
  | { account: { username: string } };

export interface PendingReportView {
  id: string;
  state: PendingReportState;
  reason: PendingReportReason;
  text: string;
  target: {
    type: 'video' | 'comment' | 'account';
    video?: { id: string; title: string; start?: number | null; end?: number | null } | null;
    comment?: { id: string; video_id: string; excerpt: string; author: string } | null;
    account?: { id: string; username: string } | null;
  };
  reporter?: { id: string; username: string } | null;
  moderator_note?: string | null;
  created_at: string;
  updated_at: string;
  messages: number;
}

export interface PendingReportMessage {
  id: string;
  author: string;
  from_moderator: boolean;
  text: string;
  created_at: string;
}

export interface PendingHeldComment {
  video_id: string;
  comment_id: string;
  channel_id: string;
  author_id: string;
  author: string;
  video_title: string;
  excerpt: string;
  reason: string;
  at: string;
}

export interface PendingQueueItem {
  kind: 'report' | 'held_comment';
  at: string;
  report?: PendingReportView | null;
  held_comment?: PendingHeldComment | null;
}

export interface PendingWatchedWords {
  lists: { name: string; words: string[] }[];
}

/** A muted account, or one banned from a channel. */
export interface PendingAccountRef {
  id?: string;
  username: string;
  at?: string | null;
  reason?: string | null;
}

export interface PendingPageOf<T> {
  items: T[];
  next_cursor?: string | null;
}

type Json<T> = { content: { 'application/json': T } };
type Answer<T> = { headers: { [name: string]: unknown }; content: { 'application/json': T } };
type NoContent = { headers: { [name: string]: unknown }; content?: never };
type Err = { headers: { [name: string]: unknown }; content: { 'application/problem+json': S['Problem'] } };
type Errors = { 400: Err; 401: Err; 403: Err; 404: Err; 409: Err; 422: Err; 429: Err; 503: Err };
/** One operation: path and query parameters, an optional JSON body, a JSON answer (or 204). */
type Op<P, Q, B, R> = {
  parameters: { query?: Q; header?: never; cookie?: never } & ([P] extends [never] ? { path?: never } : { path: P });
  responses: ([R] extends [void] ? { 204: NoContent } : { 200: Answer<R>; 201: Answer<R> }) & Errors;
} & ([B] extends [never] ? { requestBody?: never } : { requestBody: Json<B> });
type Methods = 'get' | 'put' | 'post' | 'delete' | 'options' | 'head' | 'patch' | 'trace';
/** A path item: the operations given, every other method `never`. */
type Item<M extends Partial<Record<Methods, unknown>>> = M & { [K in Exclude<Methods, keyof M>]?: never } & {
  parameters: { query?: never; header?: never; path?: never; cookie?: never };
};

type Paging = { cursor?: string; limit?: number };

/** Endpoints not in the document yet, in the generated `paths` shape. */
export type PendingPaths = {
  '/api/v1/reports': Item<{
    post: Op<never, never, { target: PendingReportTarget; reason: PendingReportReason; text: string }, PendingReportView>;
  }>;
  '/api/v1/reports/{id}': Item<{
    get: Op<{ id: string }, never, never, PendingReportView>;
    patch: Op<{ id: string }, never, { state: PendingReportState; note?: string | null }, PendingReportView>;
  }>;
  '/api/v1/reports/{id}/messages': Item<{
    get: Op<{ id: string }, Paging, never, PendingPageOf<PendingReportMessage>>;
    post: Op<{ id: string }, never, { text: string }, PendingReportMessage>;
  }>;
  '/api/v1/users/me/reports': Item<{ get: Op<never, Paging, never, PendingPageOf<PendingReportView>> }>;
  '/api/v1/moderation/queue': Item<{
    get: Op<never, Paging & { kind?: 'report' | 'held_comment'; reason?: string; state?: PendingReportState }, never, PendingPageOf<PendingQueueItem>>;
  }>;
  '/api/v1/moderation/watched-words': Item<{
    get: Op<never, never, never, PendingWatchedWords>;
    put: Op<never, never, PendingWatchedWords, PendingWatchedWords>;
  }>;
  '/api/v1/channels/{handle}/watched-words': Item<{
    get: Op<{ handle: string }, never, never, PendingWatchedWords>;
    put: Op<{ handle: string }, never, PendingWatchedWords, PendingWatchedWords>;
  }>;
  '/api/v1/channels/{handle}/bans': Item<{ get: Op<{ handle: string }, Paging, never, PendingPageOf<PendingAccountRef>> }>;
  '/api/v1/channels/{handle}/bans/{username}': Item<{ delete: Op<{ handle: string; username: string }, never, never, void> }>;
  '/api/v1/users/me/mutes': Item<{ get: Op<never, Paging, never, PendingPageOf<PendingAccountRef>> }>;
  '/api/v1/users/me/mutes/{username}': Item<{
    put: Op<{ username: string }, never, never, void>;
    delete: Op<{ username: string }, never, never, void>;
  }>;
};

// A path both here and in the document: delete it here.
type Overlap = Extract<keyof PendingPaths, keyof paths>;
export const pendingPathsAreNotDocumented: [Overlap] extends [never] ? true : never = true;
