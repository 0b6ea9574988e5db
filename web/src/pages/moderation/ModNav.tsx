import { useSession } from '../../session';

/** The moderation pages' own links, beside the admin page. */
export function ModNav({ here }: { here: string }) {
  const s = useSession();
  const admin = s.status === 'signed-in' && s.me.role === 'admin';
  const links = [
    { href: '/moderation', label: 'Queue' },
    { href: '/moderation/suspended', label: 'Suspended accounts' },
    { href: '/moderation/words', label: 'Watched words' },
    ...(admin ? [{ href: '/moderation/audit', label: 'Audit log' }] : []),
  ];
  return (
    <nav aria-label="Moderation" class="subnav">
      <ul>
        {links.map((l) => (
          <li key={l.href}>
            <a href={l.href} aria-current={l.href === here ? 'page' : undefined}>
              {l.label}
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}
