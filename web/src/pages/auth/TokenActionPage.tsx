import { useEffect, useState } from 'preact/hooks';
import { toProblem, type ApiProblem } from '../../api/client';
import { Status } from '../../components/Status';
import { reloadMe, session, sessionReady, signOut } from '../../session';
import { forgetToken, useMailedToken, useNoReferrer } from './token';

export interface TokenAction {
  path: string;
  title: string;
  /** Run at once when the page opens (verify, confirm), or only on a click (undo). */
  auto: boolean;
  button?: string;
  explain?: string;
  busy: string;
  success: string;
  run: (token: string) => Promise<void>;
  /** After success, sign out locally (the server ended every login). */
  signsOut?: boolean;
}

function linkProblem(p: ApiProblem): string | null {
  if (p.code === 'token_expired') return 'This link was used already or is too old. Ask for a new one from your account page.';
  if (p.code === 'invalid_token') return 'This link is not valid: it may have been cut short when it was copied.';
  return null;
}

/** A page a mail links to that does one thing with the link's token. */
export function TokenActionPage({ action }: { action: TokenAction }) {
  useNoReferrer();
  const token = useMailedToken(action.path);
  const [state, setState] = useState<'idle' | 'busy' | 'done'>('idle');
  const [error, setError] = useState<ApiProblem | string | null>(null);
  const go = async () => {
    if (!token) return;
    setState('busy');
    setError(null);
    try {
      await action.run(token);
      forgetToken(action.path);
      setState('done');
      await sessionReady();
      if (session().status === 'signed-in') {
        if (action.signsOut) await signOut().catch(() => undefined);
        else await reloadMe().catch(() => undefined);
      }
    } catch (e) {
      const p = toProblem(e);
      const dead = linkProblem(p);
      if (dead) forgetToken(action.path);
      setError(dead ?? p);
      setState('idle');
    }
  };
  useEffect(() => {
    if (action.auto && token) void go();
  }, []);
  return (
    <section class="narrow">
      <h1>{action.title}</h1>
      {!token && state !== 'done' && <p role="alert">This page needs the link from the email: open the link from the mail as it is.</p>}
      {token && state === 'done' && <p role="status">{action.success}</p>}
      {token && state !== 'done' && (
        <>
          {action.explain && <p>{action.explain}</p>}
          <Status error={error} busy={state === 'busy' ? action.busy : null} />
          {(!action.auto || error) && !(error && typeof error === 'string') && (
            <button type="button" disabled={state === 'busy'} onClick={() => void go()}>
              {action.button ?? 'Try again'}
            </button>
          )}
        </>
      )}
      <p>
        <a href="/account">Your account</a> · <a href="/">Home</a>
      </p>
    </section>
  );
}
