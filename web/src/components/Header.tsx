import { useState } from 'preact/hooks';
import { isStaff } from '../api/client';
import { suggest } from '../pages/search/suggest';
import { navigate } from '../router';
import { useSession } from '../session';
import { Bell } from './Bell';
import { SearchBox } from './SearchBox';

function NavLink({ href, path, children }: { href: string; path: string; children: string }) {
  const here = href === '/' ? path === '/' : path === href || path.startsWith(href + '/');
  return (
    <li>
      <a href={href} aria-current={here ? 'page' : undefined}>
        {children}
      </a>
    </li>
  );
}

/** The header's search field: suggestions as on the search page, and Enter (or a suggestion)
 * goes there. Not shown on the search page itself, which has the full form. */
function HeaderSearch() {
  const [q, setQ] = useState('');
  const go = (text: string) => {
    navigate(text.trim() ? `/search?${new URLSearchParams({ q: text.trim() }).toString()}` : '/search');
    setQ('');
  };
  return (
    <form
      class="header-search"
      role="search"
      aria-label="Site"
      onSubmit={(e) => {
        e.preventDefault();
        go(q);
      }}
    >
      <SearchBox id="header-q" label="Search videos" hideLabel value={q} onValue={setQ} onPick={go} suggest={suggest} placeholder="Search" />
      <button type="submit" class="secondary" aria-label="Search">
        <svg aria-hidden="true" width="18" height="18" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2.5" stroke-linecap="round">
          <circle cx="10.5" cy="10.5" r="6.5" />
          <path d="M15.5 15.5 21 21" />
        </svg>
      </button>
    </form>
  );
}

export function Header({ path }: { path: string }) {
  const s = useSession();
  const signedIn = s.status === 'signed-in';
  return (
    <header class="site-header">
      <a class="brand" href="/">
        <span aria-hidden="true" class="brand-mark">
          ▶
        </span>
        troupe
      </a>
      {path !== '/search' && <HeaderSearch />}
      <nav aria-label="Main">
        <ul>
          <NavLink href="/" path={path}>
            Home
          </NavLink>
          <NavLink href="/search" path={path}>
            Search
          </NavLink>
          {signedIn && (
            <>
              <NavLink href="/me/subscriptions" path={path}>
                Subscriptions
              </NavLink>
              <NavLink href="/upload" path={path}>
                Upload
              </NavLink>
              <NavLink href="/me/videos" path={path}>
                My videos
              </NavLink>
              <NavLink href="/me/channels" path={path}>
                My channels
              </NavLink>
              <NavLink href="/me/history" path={path}>
                History
              </NavLink>
            </>
          )}
          {signedIn && isStaff(s.me) && (
            <NavLink href="/moderation" path={path}>
              Moderation
            </NavLink>
          )}
          {signedIn && s.me.role === 'admin' && (
            <NavLink href="/admin" path={path}>
              Admin
            </NavLink>
          )}
          {signedIn && (
            <li>
              <Bell here={path.startsWith('/me/notifications')} />
            </li>
          )}
          {signedIn ? (
            <NavLink href="/account" path={path}>
              Account
            </NavLink>
          ) : (
            <NavLink href="/signin" path={path}>
              Sign in
            </NavLink>
          )}
        </ul>
      </nav>
    </header>
  );
}
