import type { ComponentType } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { isStaff } from './api/client';
import { Header } from './components/Header';
import { Status } from './components/Status';
import { VerifyBanner } from './components/VerifyBanner';
import { setTitle } from './lib/title';
import { currentPath, match, navigate, useLocation } from './router';
import { notFound, routes, type PageProps, type Route } from './routes';
import { useSession } from './session';

const loaded = new Map<Route, ComponentType<PageProps>>();

const loading = new Map<Route, Promise<void>>();

/** Starts loading a route's page (once); the first page starts before the first render. */
export function preload(route: Route): Promise<void> {
  let p = loading.get(route);
  if (!p) {
    p = route.load().then((m) => {
      loaded.set(route, m.default);
    });
    p.catch(() => loading.delete(route));
    loading.set(route, p);
  }
  return p;
}

export function resolve(path: string): { route: Route; params: Record<string, string> } {
  for (const route of routes) {
    const m = match(route.path, path);
    if (m) return { route, params: m.params };
  }
  return { route: notFound, params: {} };
}

export function App() {
  const loc = useLocation();
  const session = useSession();
  const { route, params } = resolve(loc.path);
  const [, setVersion] = useState(0);
  const [loadError, setLoadError] = useState<string | null>(null);
  const first = useRef(true);
  const Page = loaded.get(route);

  useEffect(() => {
    if (loaded.has(route)) {
      // It finished loading between the render and this effect (a cached chunk): show it now,
      // as nothing else may render again.
      if (!Page) setVersion((v) => v + 1);
      return;
    }
    let live = true;
    setLoadError(null);
    preload(route)
      .then(() => {
        if (live) setVersion((v) => v + 1);
      })
      .catch(() => {
        if (live) setLoadError('This page could not be loaded. Check the connection and reload.');
      });
    return () => {
      live = false;
    };
  }, [route]);

  // A guarded page without a session: sign in first, then come back.
  const needsSignIn = !!route.guard && session.status === 'anonymous';
  useEffect(() => {
    if (needsSignIn) navigate(`/signin?next=${encodeURIComponent(currentPath())}`, { replace: true });
  }, [needsSignIn]);

  useEffect(() => {
    setTitle(route.title);
  }, [route]);

  // Move focus to the new page's heading on navigation (not on the first load), and to the top.
  const key = route.followsQuery ? loc.path : loc.path + '?' + loc.query.toString();
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    window.scrollTo(0, 0);
    const t = setTimeout(() => {
      const h = document.querySelector<HTMLElement>('main h1');
      if (h) {
        h.tabIndex = -1;
        h.focus({ preventScroll: true });
      }
    }, 0);
    return () => clearTimeout(t);
  }, [loc.path, !!Page]);

  let body;
  if (loadError) body = <Status error={loadError} />;
  else if (route.guard && session.status !== 'signed-in') body = <Status busy="Checking your session…" />;
  else if (route.guard === 'admin' && session.status === 'signed-in' && session.me.role !== 'admin')
    body = (
      <section>
        <h1>Admins only</h1>
        <p>This page is for administrators. You are signed in as {session.me.username}.</p>
      </section>
    );
  else if (route.guard === 'moderator' && session.status === 'signed-in' && !isStaff(session.me))
    body = (
      <section>
        <h1>Moderators only</h1>
        <p>This page is for moderators and administrators. You are signed in as {session.me.username}.</p>
      </section>
    );
  else if (!Page) body = <Status busy="Loading…" />;
  else body = <Page key={key} params={params} query={loc.query} />;

  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <Header path={loc.path} />
      <main id="main">
        <VerifyBanner path={loc.path} />
        {body}
      </main>
      <footer class="site-footer">
        <p>troupe</p>
      </footer>
    </>
  );
}
