// The signed-in session: the console's only global state.
//
// The access token lives in this module's memory and nowhere else. The refresh token is an
// HttpOnly cookie (`troupe_refresh`, Path=/api/v1/auth) that scripts cannot read; refresh and
// logout send no body and the header `X-Troupe-CSRF: 1`. A non-secret flag in localStorage
// (`troupe.signed_in`) only says whether trying the cookie at start-up is worth a request, so an
// anonymous visitor's first page load makes no failing call.

import { useEffect, useState } from 'preact/hooks';
import { ApiProblem, api, ok, problemOf, setAuth, type Me, type Schemas, type TokenPair } from './api/client';
import { CSRF_HEADER } from './api/pending';
import { currentPath, navigate } from './router';

export type SessionState =
  | { status: 'loading' }
  | { status: 'anonymous' }
  | { status: 'signed-in'; me: Me };

const HINT = 'troupe.signed_in';

let state: SessionState = { status: 'loading' };
let token: string | null = null;
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
let refreshing: Promise<string | null> | null = null;
/** Only against a server without cookie sign-in (it refuses `refresh_cookie` with 422
 * `invalid_body`): the refresh token of a bearer login, in memory, gone on reload. */
let memoryRefresh: string | null = null;
const listeners = new Set<(s: SessionState) => void>();

function set(next: SessionState): void {
  state = next;
  for (const l of listeners) l(next);
}

function hint(on: boolean): void {
  try {
    if (on) localStorage.setItem(HINT, '1');
    else localStorage.removeItem(HINT);
  } catch {
    /* storage unavailable: start-up simply skips the refresh */
  }
}

function hinted(): boolean {
  try {
    return localStorage.getItem(HINT) === '1';
  } catch {
    return false;
  }
}

export function session(): SessionState {
  return state;
}

export function accessToken(): string | null {
  return token;
}

export function me(): Me | null {
  return state.status === 'signed-in' ? state.me : null;
}

/** Calls `l` on every change of the session; returns the unsubscribe. */
export function onSession(l: (s: SessionState) => void): () => void {
  listeners.add(l);
  return () => {
    listeners.delete(l);
  };
}

/** The session, re-rendering the component when it changes. */
export function useSession(): SessionState {
  const [s, setS] = useState(state);
  useEffect(() => {
    listeners.add(setS);
    setS(state);
    return () => {
      listeners.delete(setS);
    };
  }, []);
  return s;
}

/** Resolves once the start-up refresh has settled. */
export function sessionReady(): Promise<SessionState> {
  if (state.status !== 'loading') return Promise.resolve(state);
  return new Promise((resolve) => {
    const l = (s: SessionState) => {
      if (s.status !== 'loading') {
        listeners.delete(l);
        resolve(s);
      }
    };
    listeners.add(l);
  });
}

function accept(grant: TokenPair): void {
  token = grant.access_token;
  clearTimeout(refreshTimer);
  // Renew a minute before expiry (or at 80% of a short lifetime).
  const secs = Math.max(5, Math.min(grant.expires_in - 60, grant.expires_in * 0.8));
  refreshTimer = setTimeout(() => void refresh(), secs * 1000);
}

function clear(): void {
  token = null;
  memoryRefresh = null;
  clearTimeout(refreshTimer);
  hint(false);
}

async function loadMe(): Promise<Me> {
  return ok(await api.GET('/api/v1/users/me'));
}

/** Exchanges the refresh cookie for a new access token; null when the login is over. One at a
 * time: concurrent callers share the answer. */
export function refresh(): Promise<string | null> {
  if (refreshing) return refreshing;
  refreshing = (async () => {
    try {
      const res = memoryRefresh
        ? await fetch('/api/v1/auth/refresh', {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ refresh_token: memoryRefresh }),
          })
        : await fetch('/api/v1/auth/refresh', {
            method: 'POST',
            credentials: 'same-origin',
            headers: { [CSRF_HEADER]: '1' },
          });
      if (!res.ok) {
        await res.body?.cancel();
        clear();
        return null;
      }
      const grant = (await res.json()) as TokenPair;
      accept(grant);
      if (memoryRefresh && grant.refresh_token) memoryRefresh = grant.refresh_token;
      return token;
    } catch {
      return token; // offline: keep what we have, the next call will tell
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

/** The login ended in the middle of a page: sign in, then come back here. */
export function expired(): void {
  const wasSignedIn = state.status === 'signed-in';
  clear();
  set({ status: 'anonymous' });
  const here = currentPath();
  if (wasSignedIn && !here.startsWith('/signin')) {
    navigate(`/signin?next=${encodeURIComponent(here)}&expired=1`);
  }
}

setAuth({ token: () => token, refresh, expired });

let tokenSettled: Promise<unknown> = Promise.resolve();

/** Resolves once the start-up refresh has answered (before the account is read): calls that
 * only need the token wait for this, not for `sessionReady`. */
export function tokenReady(): Promise<unknown> {
  return tokenSettled;
}

/** Start-up: restore the session from the refresh cookie, if there may be one. */
export async function restore(): Promise<void> {
  if (!hinted()) {
    set({ status: 'anonymous' });
    return;
  }
  const attempt = refresh();
  tokenSettled = attempt;
  const t = await attempt;
  if (!t) {
    set({ status: 'anonymous' });
    return;
  }
  try {
    set({ status: 'signed-in', me: await loadMe() });
  } catch {
    clear();
    set({ status: 'anonymous' });
  }
}

function login(body: Schemas['LoginRequest']): Promise<Response> {
  return fetch('/api/v1/auth/login', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
}

export async function signIn(username: string, password: string): Promise<Me> {
  let res = await login({ username, password, refresh_cookie: true });
  let cookie = true;
  if (res.status === 422) {
    // A server from before cookie sign-in: the bearer flow, its refresh token kept in memory.
    const p = await problemOf(res);
    if (p.code !== 'invalid_body') throw p;
    res = await login({ username, password });
    cookie = false;
  }
  if (!res.ok) throw await problemOf(res);
  const grant = (await res.json()) as TokenPair;
  accept(grant);
  memoryRefresh = cookie ? null : grant.refresh_token ?? null;
  hint(cookie);
  const who = await loadMe();
  set({ status: 'signed-in', me: who });
  return who;
}

export async function signUp(username: string, email: string, password: string): Promise<Me> {
  const res = await fetch('/api/v1/auth/register', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, email, password }),
  });
  if (!res.ok) throw await problemOf(res);
  await res.body?.cancel();
  return signIn(username, password);
}

export async function signOut(): Promise<void> {
  try {
    const res = memoryRefresh
      ? await fetch('/api/v1/auth/logout', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ refresh_token: memoryRefresh }),
        })
      : await fetch('/api/v1/auth/logout', {
          method: 'POST',
          credentials: 'same-origin',
          headers: { [CSRF_HEADER]: '1' },
        });
    await res.body?.cancel();
  } finally {
    clear();
    set({ status: 'anonymous' });
  }
}

/** Re-reads the account (after a plan change, for example). */
export async function reloadMe(): Promise<void> {
  if (!token) return;
  set({ status: 'signed-in', me: await loadMe() });
}

export { ApiProblem };
