// The account-recovery calls: none needs a session (the banner's resend does).

import { api, ok } from '../../api/client';

type NoContent = { error?: unknown; response: Response };

/** A call answered with no body: throws the problem when refused. */
function done(r: NoContent): void {
  if (!r.response.ok) ok(r);
}

export async function askReset(email: string): Promise<void> {
  done(await api.POST('/api/v1/auth/password-reset', { body: { email } }));
}

export async function confirmReset(token: string, password: string): Promise<void> {
  done(await api.POST('/api/v1/auth/password-reset/confirm', { body: { token, password } }));
}

export async function verifyEmail(token: string): Promise<void> {
  done(await api.POST('/api/v1/auth/verify-email', { body: { token } }));
}

export async function confirmEmailChange(token: string): Promise<void> {
  done(await api.POST('/api/v1/auth/email-change/confirm', { body: { token } }));
}

export async function undoEmailChange(token: string): Promise<void> {
  done(await api.POST('/api/v1/auth/email-change/undo', { body: { token } }));
}

export async function resendVerification(): Promise<void> {
  done(await api.POST('/api/v1/users/me/verify-email'));
}
