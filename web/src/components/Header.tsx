import { useSession } from '../session';

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
              <NavLink href="/upload" path={path}>
                Upload
              </NavLink>
              <NavLink href="/me/videos" path={path}>
                My videos
              </NavLink>
              <NavLink href="/me/history" path={path}>
                History
              </NavLink>
            </>
          )}
          {signedIn && s.me.role === 'admin' && (
            <NavLink href="/admin" path={path}>
              Admin
            </NavLink>
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
