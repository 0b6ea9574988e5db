import { MoreOnScroll } from '../../components/MoreOnScroll';
import { date } from '../../lib/format';
import { usePaged } from '../../lib/paged';
import { plainName } from '../../lib/text';
import { ModNav } from './ModNav';
import { audit } from './data';

/** The audit log (admins): who did what to what, when and why. Append-only on the server. */
export default function AuditPage() {
  const list = usePaged(audit, []);
  return (
    <>
      <h1>Audit log</h1>
      <ModNav here="/moderation/audit" />
      {list.done && !list.error && list.items.length === 0 && <p class="muted">Nothing was done yet.</p>}
      {list.items.length > 0 && (
        <div class="table-wrap" role="region" aria-label="Audit log table" tabIndex={0}>
          <table>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Who</th>
                <th scope="col">Action</th>
                <th scope="col">Target</th>
                <th scope="col">Why</th>
              </tr>
            </thead>
            <tbody>
              {list.items.map((e, i) => (
                <tr key={`${e.at}-${i}`}>
                  <td>
                    <time dateTime={e.at}>{date(e.at)}</time>
                  </td>
                  <th scope="row">
                    <bdi>{plainName(e.actor)}</bdi>
                  </th>
                  <td>{e.action}</td>
                  <td dir="auto">{e.target}</td>
                  <td dir="auto">{e.reason ?? '–'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <MoreOnScroll list={list} what="entries" />
    </>
  );
}
