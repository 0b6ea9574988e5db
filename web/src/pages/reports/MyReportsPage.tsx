import { MoreOnScroll } from '../../components/MoreOnScroll';
import { usePaged } from '../../lib/paged';
import { myReports } from '../../lib/reports';
import { ReportSummary } from './ReportSummary';

/** The reports the user sent, newest first, each with its state and a link to its thread. */
export default function MyReportsPage() {
  const list = usePaged(myReports, []);
  return (
    <>
      <h1>My reports</h1>
      {list.done && !list.error && list.items.length === 0 && <p class="muted">You have not reported anything.</p>}
      <ul class="rows" aria-label="My reports">
        {list.items.map((r) => (
          <li class="row" key={r.id}>
            <div class="row-body">
              <ReportSummary r={r} href={`/me/reports/${encodeURIComponent(r.id)}`} />
            </div>
          </li>
        ))}
      </ul>
      <MoreOnScroll list={list} what="reports" />
    </>
  );
}
