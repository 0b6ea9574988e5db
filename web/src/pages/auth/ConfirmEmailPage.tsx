import { TokenActionPage } from './TokenActionPage';
import { confirmEmailChange } from './data';

/** The page the mail to a new address links to (`/confirm-email?token=…`). */
export default function ConfirmEmailPage() {
  return (
    <TokenActionPage
      action={{
        path: '/confirm-email',
        title: 'Confirm your new address',
        auto: true,
        busy: 'Confirming your new address…',
        success: 'Your account now uses this address. Your old address was told, with a way to undo it.',
        run: confirmEmailChange,
      }}
    />
  );
}
