import { useEffect, useState } from 'preact/hooks';
import type { SearchItem } from '../../api/client';
import { Highlighted } from '../../components/Highlighted';
import { MoreOnScroll } from '../../components/MoreOnScroll';
import { SearchBox } from '../../components/SearchBox';
import { VideoCard } from '../../components/VideoCard';
import { usePaged } from '../../lib/paged';
import { navigate } from '../../router';
import type { PageProps } from '../../routes';
import {
  DATES,
  DATE_LABEL,
  DURATIONS,
  DURATION_LABEL,
  SORTS,
  SORT_LABEL,
  hasAny,
  search,
  stateOf,
  toQuery,
  type SearchState,
} from './data';
import { suggest } from './suggest';

function ResultCard({ item }: { item: SearchItem }) {
  const { title, description } = item.highlight;
  return (
    <VideoCard video={item} title={title.length ? <Highlighted segments={title} /> : undefined}>
      {description.length > 0 && (
        <p class="card-snippet" dir="auto">
          <Highlighted segments={description} />
        </p>
      )}
    </VideoCard>
  );
}

/** One search's results; a new search (a new query string) is a new instance. */
function Results({ state, query }: { state: SearchState; query: string }) {
  const list = usePaged((cursor) => search(state, cursor), [query]);
  return (
    <section aria-labelledby="results-h">
      <h2 id="results-h">Results</h2>
      {list.items.length > 0 && (
        <ul class="grid" aria-label="Search results">
          {list.items.map((v) => (
            <ResultCard key={v.id} item={v} />
          ))}
        </ul>
      )}
      {list.done && !list.error && list.items.length === 0 && (
        <div class="empty" role="status">
          <p>No videos match this search.</p>
          <p class="muted">Check the spelling, use fewer words, or widen the filters.</p>
        </div>
      )}
      <MoreOnScroll list={list} what="results" />
    </section>
  );
}

export default function SearchPage({ query }: PageProps) {
  const applied = stateOf(query);
  const appliedQuery = toQuery(applied);
  // The form, as edited; it follows the URL when that changes (back, forward, a link).
  const [form, setForm] = useState<SearchState>(applied);
  useEffect(() => setForm(stateOf(new URLSearchParams(appliedQuery))), [appliedQuery]);

  const go = (next: SearchState) => navigate(`/search${toQuery(next)}`);
  const submit = (e: Event) => {
    e.preventDefault();
    go(form);
  };
  const text = (k: 'tag' | 'owner') => ({
    value: form[k],
    onInput: (e: Event) => setForm({ ...form, [k]: (e.currentTarget as HTMLInputElement).value }),
  });
  // A choice in a menu applies at once (with whatever else has been typed).
  const choose = (k: 'duration' | 'date' | 'sort') => ({
    value: form[k],
    onChange: (e: Event) => go({ ...form, [k]: (e.currentTarget as HTMLSelectElement).value }),
  });
  const unknownSort = !!applied.sort && !(SORTS as readonly string[]).includes(applied.sort);

  return (
    <>
      <h1>Search</h1>
      <form class="search-form" role="search" aria-label="Videos" onSubmit={submit}>
        <div class="search-main">
          <SearchBox
            id="s-q"
            label="Search videos"
            hideLabel
            value={form.q}
            onValue={(q) => setForm((f) => ({ ...f, q }))}
            onPick={(q) => go({ ...form, q })}
            suggest={suggest}
            placeholder="Search titles, tags, channels and descriptions"
          />
          <button type="submit">Search</button>
        </div>
        <fieldset class="filters">
          <legend class="sr-only">Filters</legend>
          <div class="field">
            <label for="s-tag">Tag</label>
            <input id="s-tag" name="tag" autocomplete="off" {...text('tag')} />
          </div>
          <div class="field">
            <label for="s-owner">Channel</label>
            <input id="s-owner" name="owner" autocomplete="off" {...text('owner')} />
          </div>
          <div class="field">
            <label for="s-duration">Duration</label>
            <select id="s-duration" name="duration" {...choose('duration')}>
              <option value="">Any length</option>
              {DURATIONS.map((d) => (
                <option key={d} value={d}>
                  {DURATION_LABEL[d]}
                </option>
              ))}
            </select>
          </div>
          <div class="field">
            <label for="s-date">Upload date</label>
            <select id="s-date" name="date" {...choose('date')}>
              <option value="">Any time</option>
              {DATES.map((d) => (
                <option key={d} value={d}>
                  {DATE_LABEL[d]}
                </option>
              ))}
            </select>
          </div>
          <div class="field">
            <label for="s-sort">Sort by</label>
            <select id="s-sort" name="sort" value={unknownSort ? applied.sort : form.sort || 'relevance'} onChange={choose('sort').onChange}>
              {unknownSort && <option value={applied.sort}>{applied.sort}</option>}
              {SORTS.map((s) => (
                <option key={s} value={s}>
                  {SORT_LABEL[s]}
                </option>
              ))}
            </select>
          </div>
        </fieldset>
      </form>
      {hasAny(applied) ? (
        <Results key={appliedQuery} state={applied} query={appliedQuery} />
      ) : (
        <p class="muted">Type some words, or pick a tag, a channel or a filter.</p>
      )}
    </>
  );
}
