import { useEffect, useState } from 'preact/hooks';
import { toProblem, type ApiProblem, type WatchedWords } from '../api/client';
import { Status } from './Status';

type Draft = { name: string; words: string };

const toDraft = (w: WatchedWords): Draft[] => w.lists.map((l) => ({ name: l.name, words: l.words.join('\n') }));
const fromDraft = (d: Draft[]): WatchedWords => ({
  lists: d
    .map((l) => ({ name: l.name.trim(), words: l.words.split('\n').map((x) => x.trim()).filter(Boolean) }))
    .filter((l) => l.name || l.words.length),
});

/** Watched-word lists (a channel's or the instance's): a comment with one of the words is held
 * for review. Each list has a name and one word or phrase a line. */
export function WatchedWordsForm({
  idPrefix,
  load,
  save,
}: {
  idPrefix: string;
  load: () => Promise<WatchedWords>;
  save: (w: WatchedWords) => Promise<WatchedWords>;
}) {
  const [lists, setLists] = useState<Draft[] | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiProblem | null>(null);
  const [said, setSaid] = useState('');
  useEffect(() => {
    load()
      .then((w) => setLists(toDraft(w)))
      .catch((e: unknown) => setError(toProblem(e)));
  }, []);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!lists) return;
    setBusy(true);
    setError(null);
    setSaid('');
    try {
      setLists(toDraft(await save(fromDraft(lists))));
      setSaid('Saved.');
    } catch (err) {
      setError(toProblem(err));
    } finally {
      setBusy(false);
    }
  };
  const edit = (i: number, part: Partial<Draft>) => setLists((ls) => (ls ?? []).map((l, k) => (k === i ? { ...l, ...part } : l)));
  return (
    <form class="stack" aria-label="Watched words" onSubmit={(e) => void submit(e)}>
      {!lists && <Status busy={error ? null : 'Loading the watched words…'} error={error} />}
      {lists?.map((l, i) => (
        <fieldset key={i} class="field">
          <legend>List {i + 1}</legend>
          <label for={`${idPrefix}-name-${i}`}>Name</label>
          <input id={`${idPrefix}-name-${i}`} maxLength={100} value={l.name} dir="auto" onInput={(e) => edit(i, { name: e.currentTarget.value })} />
          <label for={`${idPrefix}-words-${i}`}>Words, one a line</label>
          <textarea id={`${idPrefix}-words-${i}`} rows={4} value={l.words} dir="auto" onInput={(e) => edit(i, { words: e.currentTarget.value })} />
          <button type="button" class="link" onClick={() => setLists((ls) => (ls ?? []).filter((_, k) => k !== i))}>
            Remove list {i + 1}
          </button>
        </fieldset>
      ))}
      {lists && (
        <>
          <div class="actions">
            <button type="button" class="secondary" onClick={() => setLists((ls) => [...(ls ?? []), { name: '', words: '' }])}>
              Add a list
            </button>
            <button type="submit" disabled={busy}>
              Save watched words
            </button>
            <span role="status" class="muted small">
              {said}
            </span>
          </div>
          <Status error={error} busy={busy ? 'Saving…' : null} />
        </>
      )}
    </form>
  );
}
