import { useState } from 'preact/hooks';
import { toProblem, type ApiProblem } from '../api/client';
import { accountState } from '../api/pending';
import { resendVerification } from '../pages/auth/data';
import { useSession } from '../session';
import { Status } from './Status';

/** Above every page while the signed-in account's address is not confirmed: says where the link
 * went, and sends it again. */
export function VerifyBanner({ path }: { path: string }) {
  const s = useSession();
  const [busy, setBusy] = useState(false);
  const [sent, setSent] = useState(false);
  const [error, setError] = useState<ApiProblem | null>(null);
  if (s.status !== 'signed-in') return null;
  const me = s.me;
  // Unknown (a server before issue 24) or confirmed: nothing to say. The verify page says it.
  if (accountState(me).email_verified !== false || path === '/verify-email') return null;
  const resend = async () => {
    setBusy(true);
    setError(null);
    setSent(false);
    try {
      await resendVerification();
      setSent(true);
    } catch (e) {
      setError(toProblem(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="verify-banner" aria-label="Confirm your address">
      <p>
        Confirm your address: we sent a link to <strong>{me.email}</strong>. Follow it so that mail from us (a password reset, your notifications) reaches you.
      </p>
      <div class="verify-actions">
        <button type="button" class="secondary" disabled={busy} onClick={() => void resend()}>
          {busy ? 'Sending…' : 'Send the link again'}
        </button>
        <a href="/account#email-h">Wrong address?</a>
      </div>
      {sent && <p role="status">Sent. Look in your inbox (and the spam folder) for the newest one.</p>}
      <Status error={error} />
    </section>
  );
}
