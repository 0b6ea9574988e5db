// The mail troupe sent, as the SMTP sink (aiosmtpd, Maildir) received it: parsed by Python's
// email package (e2e/maildir.py), polled until the wanted message is there.

import { expect } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { E2eEnv } from './env';

export interface Mail {
  key: string;
  to: string;
  subject: string;
  message_id: string;
  headers: Record<string, string[]>;
  text: string;
  html: string;
}

export function mails(env: E2eEnv): Mail[] {
  const out = execFileSync('python3', [join(import.meta.dirname, 'maildir.py'), env.maildir], { encoding: 'utf8' });
  return JSON.parse(out) as Mail[];
}

/** Mail to `to` that `pick` wants, waiting up to `timeout` ms for it. */
export async function waitForMail(env: E2eEnv, to: string, pick: (m: Mail) => boolean = () => true, timeout = 30_000): Promise<Mail> {
  let found: Mail | undefined;
  await expect
    .poll(
      () => {
        found = mails(env).find((m) => m.to.toLowerCase().includes(to.toLowerCase()) && pick(m));
        return !!found;
      },
      { timeout, message: `a mail to ${to}` },
    )
    .toBe(true);
  return found!;
}

/** All mail to `to` so far. */
export function mailsTo(env: E2eEnv, to: string): Mail[] {
  return mails(env).filter((m) => m.to.toLowerCase().includes(to.toLowerCase()));
}

/** The first link in the mail's text whose path starts with `path`, as a path with its query
 * (the mail's links name the server; the pages may be behind a preview). */
export function linkIn(m: Mail, path: string): string {
  for (const raw of m.text.match(/https?:\/\/[^\s<>")]+/g) ?? []) {
    const u = new URL(raw);
    if (u.pathname.startsWith(path)) return u.pathname + u.search;
  }
  throw new Error(`no link to ${path} in the mail "${m.subject}":\n${m.text}`);
}
