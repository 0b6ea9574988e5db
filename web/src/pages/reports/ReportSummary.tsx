import { REPORT_REASONS, type Report } from '../../api/client';
import { ago, date, duration } from '../../lib/format';
import { STATE_TEXT } from '../../lib/reports';
import { plainName } from '../../lib/text';

export function reasonText(r: Report['reason']): string {
  return REPORT_REASONS.find((x) => x.value === r)?.label ?? r;
}

/** What a report is about, as a line of text with a link to it. */
export function ReportTargetText({ r }: { r: Report }) {
  const t = r.target;
  if (t.video) {
    const part = t.video.start != null && t.video.end != null ? ` (${duration(t.video.start)} to ${duration(t.video.end)})` : '';
    const at = t.video.start != null ? `?t=${Math.floor(t.video.start)}` : '';
    return (
      <>
        the video{' '}
        <a href={`/watch/${encodeURIComponent(t.video.id)}${at}`} dir="auto">
          {t.video.title}
        </a>
        {part}
      </>
    );
  }
  if (t.comment)
    return (
      <>
        a comment by <bdi>{plainName(t.comment.author)}</bdi> under{' '}
        <a href={`/watch/${encodeURIComponent(t.comment.video_id)}`}>its video</a>: <q dir="auto">{t.comment.excerpt}</q>
      </>
    );
  if (t.account)
    return (
      <>
        the account <bdi>{plainName(t.account.username)}</bdi>
      </>
    );
  return <>{t.type}</>;
}

/** A report in a list: reason, state, target, when; a link to its page and thread. */
export function ReportSummary({ r, href, staff }: { r: Report; href: string; staff?: boolean }) {
  return (
    <article aria-label={`Report: ${reasonText(r.reason)}`}>
      <h2 class="row-title">
        <a href={href}>{reasonText(r.reason)}</a> <span class={`badge state-${r.state}`}>{STATE_TEXT[r.state]}</span>
      </h2>
      <p class="small">
        About <ReportTargetText r={r} />
      </p>
      {r.text && (
        <p class="report-text" dir="auto">
          {r.text}
        </p>
      )}
      <p class="muted small">
        {staff && r.reporter && (
          <>
            by <bdi>{plainName(r.reporter.username)}</bdi> ·{' '}
          </>
        )}
        <time dateTime={r.created_at} title={date(r.created_at)}>
          {ago(r.created_at)}
        </time>{' '}
        · {r.messages} {r.messages === 1 ? 'message' : 'messages'}
      </p>
    </article>
  );
}
