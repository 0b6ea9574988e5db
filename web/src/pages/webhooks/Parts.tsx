// Pieces both webhook pages use: the events picker and the secret shown once.

import { useState } from 'preact/hooks';
import type { WebhookEvent } from '../../api/client';
import { EVENTS } from './data';

export function EventsPicker({ value, onChange, idPrefix }: { value: WebhookEvent[]; onChange: (v: WebhookEvent[]) => void; idPrefix: string }) {
  const toggle = (ev: WebhookEvent, on: boolean) => onChange(on ? [...value.filter((v) => v !== ev), ev] : value.filter((v) => v !== ev));
  return (
    <fieldset class="events">
      <legend>Events</legend>
      {EVENTS.map((e) => (
        <label class="check" key={e.value} for={`${idPrefix}-${e.value}`}>
          <input id={`${idPrefix}-${e.value}`} type="checkbox" checked={value.includes(e.value)} onChange={(x) => toggle(e.value, x.currentTarget.checked)} />{' '}
          <span>
            {e.label}
            <br />
            <code class="muted small">{e.value}</code>
          </span>
        </label>
      ))}
    </fieldset>
  );
}

/** A signing secret, shown this once, with Copy. */
export function SecretOnce({ secret, note, onDone }: { secret: string; note?: string; onDone: () => void }) {
  const [copied, setCopied] = useState<string | null>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(secret);
      setCopied('Copied.');
    } catch {
      setCopied('The browser did not allow copying: select the secret and copy it by hand.');
    }
  };
  return (
    <section class="verify-banner" aria-labelledby="secret-h" role="region">
      <h2 id="secret-h">Signing secret</h2>
      <p>
        <strong>Copy it now: it is shown only this once.</strong> Your app checks each delivery's <code>webhook-signature</code> with it (Standard
        Webhooks).
      </p>
      <div class="secret">
        <code aria-label="Signing secret">{secret}</code>
        <button type="button" onClick={() => void copy()}>
          Copy the secret
        </button>
      </div>
      {note && <p class="small">{note}</p>}
      <p role="status" class="small">
        {copied}
      </p>
      <button type="button" class="secondary" onClick={onDone}>
        I saved it
      </button>
    </section>
  );
}
