import type { ApiProblem } from '../api/client';

/** A busy message (polite live region) or an error (alert) with the problem's `detail`. */
export function Status({ busy, error }: { busy?: string | null; error?: ApiProblem | string | null }) {
  if (error) {
    const detail = typeof error === 'string' ? error : error.detail;
    return (
      <p class="problem" role="alert">
        {detail}
      </p>
    );
  }
  if (busy)
    return (
      <p class="busy" role="status">
        <span class="spinner" aria-hidden="true" />
        {busy}
      </p>
    );
  return null;
}
