import { TokenActionPage } from './TokenActionPage';
import { undoEmailChange } from './data';

/** The page the notice to the old address links to (`/undo-email-change?token=…`): only a click
 * undoes (a mail scanner that opens links changes nothing). */
export default function UndoEmailPage() {
  return (
    <TokenActionPage
      action={{
        path: '/undo-email-change',
        title: 'Undo the change of address',
        auto: false,
        button: 'Undo the change',
        explain:
          'If you did not change the address of your account, undo it here: the account goes back to this address and every device signed in to it is signed out. Then set a new password.',
        busy: 'Undoing…',
        success: 'Your account uses this address again, and every device signed in to it is signed out. Set a new password now if someone else knew it.',
        run: undoEmailChange,
        signsOut: true,
      }}
    />
  );
}
