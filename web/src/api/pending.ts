// Endpoints and fields the console uses that docs/openapi.json does not list yet (issue 15,
// Build 3). They are declared here by hand, in openapi-typescript's shape, so the client in
// ./client.ts is typed for them too.
//
// Once the OpenAPI document lists an endpoint, delete it here: the generated types in
// ./schema.d.ts (npm run gen:api) take over, and a path declared in both places stops
// type-checking, which is the reminder.

import type { components } from './schema';

type S = components['schemas'];

/** An error body with its extra members (RFC 9457 lets problems carry more). */
export type ProblemBody = S['Problem'] & Record<string, unknown>;

/** One live stream: an entry of a 429 `concurrent_limit_exceeded` problem's `devices`, and of
 * `GET /api/v1/users/me/streams`. */
export interface ActiveStream {
  session_id: string;
  device_id: string;
  video_id: string;
  started_at: string;
  last_seen: string;
  /** `DELETE` it to end the stream (present in `/users/me/streams`; the 429 problem puts it in
   * `actions` instead, keyed by `device_id`). */
  href?: string;
}

/** One entry of a 429 problem's `actions`. */
export type LimitAction =
  | { action: 'stop_stream'; method: 'DELETE'; href: string; device_id: string }
  | { action: 'upgrade'; plan: S['Plan']; max_streams: number; href: string };

/** The body of 429 `concurrent_limit_exceeded` from `POST /api/v1/playback/sessions`. */
export type LimitProblem = S['Problem'] & {
  limit: number;
  plan: S['Plan'];
  devices: ActiveStream[];
  actions: LimitAction[];
};

/** `POST /api/v1/auth/login` with `refresh_cookie: true`: the refresh token goes into the
 * HttpOnly cookie `troupe_refresh` (Path=/api/v1/auth) instead of the body. */
export interface CookieLoginRequest {
  username: string;
  password: string;
  refresh_cookie: true;
}

/** What `POST /api/v1/auth/login` (cookie mode) and `POST /api/v1/auth/refresh` (no body,
 * header `X-Troupe-CSRF: 1`) answer. */
export interface AccessGrant {
  access_token: string;
  token_type: string;
  expires_in: number;
  refresh_token?: string;
  refresh_expires_in?: number;
}

/** The header a cookie-authenticated auth request must carry (403 `csrf_required` without). */
export const CSRF_HEADER = 'X-Troupe-CSRF';

type Json<T> = { content: { 'application/json': T } };
type ProblemResponse = { headers: Record<string, unknown>; content: { 'application/problem+json': S['Problem'] } };
type Ok<T> = { headers: Record<string, unknown> } & Json<T>;

/** New paths, in the generated `paths` shape. */
export interface PendingPaths {
  '/api/v1/users/me/streams': {
    parameters: { query?: never; header?: never; path?: never; cookie?: never };
    get: {
      parameters: { query?: never; header?: never; path?: never; cookie?: never };
      requestBody?: never;
      responses: { 200: Ok<{ streams: ActiveStream[] }>; 401: ProblemResponse };
    };
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/api/v1/videos/{id}/retry': {
    parameters: { query?: never; header?: never; path?: never; cookie?: never };
    post: {
      parameters: { query?: never; header?: never; path: { id: string }; cookie?: never };
      requestBody?: never;
      responses: {
        202: Ok<S['VideoBody']>;
        401: ProblemResponse;
        403: ProblemResponse;
        404: ProblemResponse;
        409: ProblemResponse;
      };
    };
    get?: never;
    put?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/api/v1/admin/users': {
    parameters: { query?: never; header?: never; path?: never; cookie?: never };
    get: {
      parameters: {
        query?: { limit?: number; cursor?: string };
        header?: never;
        path?: never;
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        200: Ok<{ items: S['UserView'][]; next_cursor?: string | null }>;
        401: ProblemResponse;
        403: ProblemResponse;
      };
    };
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
  '/api/v1/admin/videos': {
    parameters: { query?: never; header?: never; path?: never; cookie?: never };
    get: {
      parameters: {
        query?: { state?: S['VideoStatus']; limit?: number; cursor?: string };
        header?: never;
        path?: never;
        cookie?: never;
      };
      requestBody?: never;
      responses: { 200: Ok<S['VideoPage']>; 401: ProblemResponse; 403: ProblemResponse };
    };
    put?: never;
    post?: never;
    delete?: never;
    options?: never;
    head?: never;
    patch?: never;
    trace?: never;
  };
}
