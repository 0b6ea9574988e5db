// The console's one API client: openapi-fetch typed by the generated OpenAPI types
// (./schema.d.ts, from ../docs/openapi.json by `npm run gen:api`) plus the endpoints the
// document does not list yet (./pending.ts).
//
// Authentication is plugged in by the session (src/session.ts) through `setAuth`, so this
// module has no global state of its own and the embed player can use it anonymously.

import createClient from 'openapi-fetch';
import type { components, paths } from './schema';
import type { PendingPaths, ProblemBody } from './pending';

export type Schemas = components['schemas'];
export type Video = Schemas['VideoBody'];
export type VideoPage = Schemas['VideoPage'];
export type TrendingItem = Schemas['TrendingItem'];
export type SearchPage = Schemas['SearchPage'];
export type SearchItem = Schemas['SearchItem'];
export type Segment = Schemas['Segment'];
export type Suggestion = Schemas['Suggestion'];
export type Me = Schemas['Me'];
export type User = Schemas['UserView'];
export type Plan = Schemas['Plan'];
export type Visibility = Schemas['Visibility'];
export type SessionGrant = Schemas['SessionGrant'];
export type HistoryItem = Schemas['HistoryItem'];
export type Counts = Schemas['Counts'];
export type Rating = Schemas['Rating'];
export type ClusterView = Schemas['ClusterView'];
export type ActiveStream = Schemas['ActiveDevice'];
export type TokenPair = Schemas['TokenPair'];
export type Channel = Schemas['ChannelView'];
export type SubscriptionChange = Schemas['SubscriptionChange'];
export type Subscription = Schemas['Subscription'];
export type Notification = Schemas['Notification'];
export type NotificationKind = Schemas['NotificationKind'];
export type NotificationSettings = Schemas['NotificationSettings'];
export type Comment = Schemas['CommentView'];
export type CommentPage = Schemas['CommentPage'];
export type CommentPolicy = Schemas['CommentPolicy'];
export type Role = Schemas['Role'];
export type GrantableRole = Schemas['GrantableRole'];
export type SuspendedAccount = Schemas['SuspendedAccount'];
export type ReportReason = Schemas['ReportReason'];
export type ReportState = Schemas['ReportState'];
export type ReportTarget = Schemas['TargetInput'];
export type Report = Schemas['ReportView'];
export type ReportMessage = Schemas['ReportMessage'];
export type HeldComment = Schemas['HeldComment'];
export type QueueItem = Schemas['QueueItem'];
export type AuditEntry = Schemas['AuditItem'];
export type WatchedWords = Schemas['WatchedWords'];
/** An account banned from commenting on a channel. */
export type Ban = Schemas['Ban'];
/** An account the user muted. */
export type Muted = Schemas['Muted'];
/** The caller's latest data export ("Export my data"). */
export type ExportView = Schemas['ExportView'];
/** A webhook endpoint (never its secrets). */
export type WebhookView = Schemas['EndpointView'];
export type WebhookEvent = Schemas['EventType'];
/** The events an endpoint may ask for (every `WebhookEvent` but `webhook.test`). */
export type SubscribableEvent = Schemas['EventName'];
/** Leaves out what an endpoint cannot ask for. */
export const subscribable = (events: readonly WebhookEvent[]): SubscribableEvent[] =>
  events.filter((e): e is SubscribableEvent => e !== 'webhook.test');
/** One attempt in an endpoint's delivery log. */
export type DeliveryView = Schemas['DeliveryAttempt'];

export const COMMENT_POLICIES: readonly { value: CommentPolicy; label: string }[] = [
  { value: 'enabled', label: 'On' },
  { value: 'approval', label: 'Held for my approval' },
  { value: 'disabled', label: 'Off' },
];

export const REPORT_REASONS: readonly { value: ReportReason; label: string }[] = [
  { value: 'spam', label: 'Spam' },
  { value: 'harassment', label: 'Harassment or bullying' },
  { value: 'violent', label: 'Violent or dangerous' },
  { value: 'sexual', label: 'Sexual content' },
  { value: 'copyright', label: 'Copyright' },
  { value: 'privacy', label: 'Privacy' },
  { value: 'other', label: 'Something else' },
];

/** Moderators and admins ("staff"): they review comments and reports. */
export function isStaff(me: { role: string } | null | undefined): boolean {
  return me?.role === 'admin' || me?.role === 'moderator';
}

export const PLANS: readonly Plan[] = ['free', 'basic', 'premium', 'ultimate'];

/** A failed API call: the problem+json body's `detail` is what the user sees. */
export class ApiProblem extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  readonly body: ProblemBody | null;

  constructor(status: number, body: ProblemBody | null, fallback?: string) {
    const detail =
      body && typeof body.detail === 'string' && body.detail
        ? body.detail
        : fallback ?? `the server answered ${status}`;
    super(detail);
    this.name = 'ApiProblem';
    this.status = status;
    this.code = body && typeof body.code === 'string' ? body.code : `http_${status}`;
    this.detail = detail;
    this.body = body;
  }
}

/** Turns whatever a call threw into something with a `detail` for the page. */
export function toProblem(e: unknown): ApiProblem {
  if (e instanceof ApiProblem) return e;
  if (e instanceof DOMException && e.name === 'AbortError') return new ApiProblem(0, null, 'cancelled');
  const msg = e instanceof Error ? e.message : String(e);
  return new ApiProblem(0, null, `the server could not be reached (${msg})`);
}

/** Reads a problem body from a failed Response (any content type). */
export async function problemOf(res: Response): Promise<ApiProblem> {
  let body: ProblemBody | null = null;
  try {
    const text = await res.text();
    const parsed: unknown = text ? JSON.parse(text) : null;
    if (parsed && typeof parsed === 'object') body = parsed as ProblemBody;
  } catch {
    body = null;
  }
  return new ApiProblem(res.status, body, `${res.status} ${res.statusText || 'error'}`.trim());
}

/** What the session gives the client. */
export interface AuthHooks {
  /** The access token in memory, if signed in. */
  token(): string | null;
  /** Gets a new access token (refresh cookie), or null when the login is over. */
  refresh(): Promise<string | null>;
  /** The login is over in the middle of a page: send the user to sign in and back. */
  expired(): void;
}

let auth: AuthHooks | null = null;

export function setAuth(hooks: AuthHooks): void {
  auth = hooks;
}

export function currentToken(): string | null {
  return auth?.token() ?? null;
}

/**
 * fetch with the bearer token. A 401 on a request that carried a token gets one refresh and
 * one retry; if that fails too, the session is over and the user goes to sign in.
 */
export async function authedFetch(input: Request): Promise<Response> {
  const token = auth?.token() ?? null;
  const retry = token ? input.clone() : null;
  if (token && !input.headers.has('Authorization')) input.headers.set('Authorization', `Bearer ${token}`);
  const res = await fetch(input);
  if (res.status !== 401 || !token || !auth || !retry) return res;
  const fresh = await auth.refresh();
  if (!fresh) {
    auth.expired();
    return res;
  }
  retry.headers.set('Authorization', `Bearer ${fresh}`);
  const again = await fetch(retry);
  if (again.status === 401) auth.expired();
  return again;
}

/** Plain fetch with the session's token and refresh (for calls outside the typed paths, such as
 * an `href` from a problem body). */
export function apiFetch(url: string, init: RequestInit = {}): Promise<Response> {
  return authedFetch(new Request(url, { credentials: 'same-origin', ...init }));
}

export const api = createClient<paths & PendingPaths>({
  baseUrl: '',
  fetch: authedFetch,
  credentials: 'same-origin',
});

type Result<T> = { data?: T; error?: unknown; response: Response };

/** Unwraps an openapi-fetch result: the data, or a thrown ApiProblem with the server's detail. */
export function ok<T>(r: Result<T>): T {
  if (r.response.ok && r.error === undefined) return r.data as T;
  const err = r.error;
  const body = err && typeof err === 'object' ? (err as ProblemBody) : null;
  throw new ApiProblem(r.response.status, body, `${r.response.status} ${r.response.statusText}`.trim());
}

/** Where an <img> loads the video's poster: the API's `thumbnail_url`, which for a private
 * video is a short-lived signed URL (an <img> cannot send the bearer token); null when there is
 * none yet, or none this caller may load. */
export function posterUrl(v: Pick<Video, 'has_poster' | 'thumbnail_url'>): string | null {
  if (!v.has_poster || !v.thumbnail_url) return null;
  // Only our own API's paths: never another origin a body might name.
  return v.thumbnail_url.startsWith('/api/') ? v.thumbnail_url : null;
}

/** The stable random id of this browser for playback sessions (`troupe.device_id`). */
export function deviceId(): string {
  const key = 'troupe.device_id';
  try {
    const seen = localStorage.getItem(key);
    if (seen && /^[A-Za-z0-9._:-]{1,128}$/.test(seen)) return seen;
    const bytes = crypto.getRandomValues(new Uint8Array(12));
    const id = 'web-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    localStorage.setItem(key, id);
    return id;
  } catch {
    return 'web-ephemeral';
  }
}
