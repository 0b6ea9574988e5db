// Suggestions as the user types; its own module, because the header (on every page) uses it
// and the rest of the search page loads only with that page.

import { api, ok, type Suggestion } from '../../api/client';
import { tokenReady } from '../../session';

/** Completions for what has been typed: titles of the best matches the viewer may list. */
export async function suggest(q: string, signal: AbortSignal): Promise<Suggestion[]> {
  await tokenReady();
  const r = ok(await api.GET('/api/v1/search/suggest', { params: { query: { q, limit: 8 } }, signal }));
  return r.suggestions;
}
