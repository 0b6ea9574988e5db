import { TokenActionPage } from './TokenActionPage';
import { verifyEmail } from './data';

/** The page the verification mail links to (`/verify-email?token=…`). */
export default function VerifyEmailPage() {
  return (
    <TokenActionPage
      action={{
        path: '/verify-email',
        title: 'Confirm your address',
        auto: true,
        busy: 'Confirming your address…',
        success: 'Your address is confirmed. Thank you.',
        run: verifyEmail,
      }}
    />
  );
}
