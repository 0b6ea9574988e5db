import { useState } from 'preact/hooks';
import { MoreOnScroll } from '../../components/MoreOnScroll';
import { VideoGrid } from '../../components/VideoCard';
import { usePaged } from '../../lib/paged';
import { navigate } from '../../router';
import type { PageProps } from '../../routes';
import { filtersOf, hasAny, search, toQuery, type Filters } from './data';

function Results({ filters }: { filters: Filters }) {
  const list = usePaged((cursor) => search(filters, cursor), [filters.q, filters.tag, filters.owner]);
  return (
    <section aria-labelledby="results-h">
      <h2 id="results-h">Results</h2>
      {list.items.length > 0 && <VideoGrid videos={list.items} label="Search results" />}
      {list.done && !list.error && list.items.length === 0 && <p role="status">No videos match.</p>}
      <MoreOnScroll list={list} what="results" />
    </section>
  );
}

export default function SearchPage({ query }: PageProps) {
  const applied = filtersOf(query);
  const [form, setForm] = useState<Filters>(applied);
  const field = (k: keyof Filters) => ({
    value: form[k],
    onInput: (e: Event) => setForm({ ...form, [k]: (e.currentTarget as HTMLInputElement).value }),
  });
  const submit = (e: Event) => {
    e.preventDefault();
    navigate(`/search${toQuery(form)}`);
  };
  return (
    <>
      <h1>Search</h1>
      <form class="search-form" role="search" onSubmit={submit}>
        <div class="field">
          <label for="s-q">Words</label>
          <input id="s-q" type="search" name="q" {...field('q')} placeholder="in titles, descriptions and tags" />
        </div>
        <div class="field">
          <label for="s-tag">Tag</label>
          <input id="s-tag" name="tag" {...field('tag')} autocomplete="off" />
        </div>
        <div class="field">
          <label for="s-owner">Owner</label>
          <input id="s-owner" name="owner" {...field('owner')} autocomplete="off" />
        </div>
        <button type="submit">Search</button>
      </form>
      {hasAny(applied) ? <Results filters={applied} /> : <p class="muted">Type some words, a tag or an owner.</p>}
    </>
  );
}
