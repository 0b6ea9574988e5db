// A search field with suggestions as the user types: the ARIA 1.2 combobox pattern (an input
// with a popup listbox, the active option named by aria-activedescendant, focus stays in the
// input). Suggestions are asked for 120 ms after the last keystroke; an answer to anything but
// the latest request is dropped, so a slow reply never overwrites a newer one.

import { useEffect, useRef, useState } from 'preact/hooks';
import type { Suggestion } from '../api/client';
import { Highlighted } from './Highlighted';

const DEBOUNCE_MS = 120;

export interface SearchBoxProps {
  /** The input's id (the listbox and options are named after it). */
  id: string;
  label: string;
  /** Hide the label visually (it stays the accessible name). */
  hideLabel?: boolean;
  value: string;
  onValue: (v: string) => void;
  /** A suggestion was chosen (click or Enter on it): search for its text. */
  onPick: (text: string) => void;
  suggest: (q: string, signal: AbortSignal) => Promise<Suggestion[]>;
  placeholder?: string;
}

export function SearchBox({ id, label, hideLabel, value, onValue, onPick, suggest, placeholder }: SearchBoxProps) {
  const [items, setItems] = useState<Suggestion[]>([]);
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(-1);
  // The latest request: answers to any other are stale.
  const seq = useRef(0);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const inflight = useRef<AbortController | null>(null);
  const listId = `${id}-suggestions`;

  const cancel = () => {
    seq.current++;
    clearTimeout(timer.current);
    inflight.current?.abort();
    inflight.current = null;
  };

  useEffect(() => cancel, []);

  const close = () => {
    cancel();
    setOpen(false);
    setActive(-1);
  };

  const ask = (q: string) => {
    cancel();
    if (!q.trim()) {
      setItems([]);
      setOpen(false);
      setActive(-1);
      return;
    }
    const mine = seq.current;
    timer.current = setTimeout(() => {
      const ctl = new AbortController();
      inflight.current = ctl;
      suggest(q, ctl.signal)
        .then((got) => {
          if (mine !== seq.current) return;
          setItems(got);
          setActive(-1);
          setOpen(got.length > 0);
        })
        .catch(() => {
          // Suggestions are a nicety: a failure (or an abort) just shows none.
          if (mine !== seq.current) return;
          setItems([]);
          setOpen(false);
        });
    }, DEBOUNCE_MS);
  };

  const pick = (s: Suggestion) => {
    close();
    onValue(s.text);
    onPick(s.text);
  };

  const onKeyDown = (e: KeyboardEvent) => {
    const n = items.length;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      if (!n) return;
      e.preventDefault();
      if (!open) {
        setOpen(true);
        setActive(e.key === 'ArrowDown' ? 0 : n - 1);
        return;
      }
      setActive((a) => (e.key === 'ArrowDown' ? (a + 1) % n : a <= 0 ? n - 1 : a - 1));
    } else if (e.key === 'Enter') {
      const s = open && active >= 0 ? items[active] : undefined;
      if (s) {
        e.preventDefault();
        pick(s);
      } else close();
    } else if (e.key === 'Escape') {
      if (open) {
        // Only close the list: Escape in a search field would clear it too.
        e.preventDefault();
        close();
      }
    } else if (e.key === 'Tab') close();
  };

  const expanded = open && items.length > 0;
  return (
    <div class="searchbox">
      <label for={id} class={hideLabel ? 'sr-only' : undefined}>
        {label}
      </label>
      <input
        id={id}
        type="search"
        name="q"
        role="combobox"
        // (Preact types a combobox input as one with a datalist; this one has its own listbox.)
        list={undefined}
        autocomplete="off"
        spellcheck={false}
        enterKeyHint="search"
        aria-autocomplete="list"
        aria-expanded={expanded}
        aria-controls={listId}
        aria-activedescendant={expanded && active >= 0 ? `${listId}-${active}` : undefined}
        placeholder={placeholder}
        value={value}
        onInput={(e) => {
          const v = e.currentTarget.value;
          onValue(v);
          ask(v);
        }}
        onKeyDown={onKeyDown}
        onBlur={close}
      />
      <ul id={listId} role="listbox" aria-label="Suggestions" class="suggestions" hidden={!expanded}>
        {items.map((s, i) => (
          <li
            key={`${s.video_id}-${i}`}
            id={`${listId}-${i}`}
            role="option"
            aria-selected={i === active}
            dir="auto"
            // Keep the focus in the input (a blur would close the list before the click).
            onMouseDown={(e) => e.preventDefault()}
            onClick={() => pick(s)}
          >
            <Highlighted segments={s.segments} />
          </li>
        ))}
      </ul>
      <span class="sr-only" aria-live="polite">
        {expanded ? `${items.length} ${items.length === 1 ? 'suggestion' : 'suggestions'}; up and down arrows to choose` : ''}
      </span>
    </div>
  );
}
