//! Queries: what a search asks, how it becomes a tantivy query, and how pages are cut.

use crate::highlight::{tolerance, MIN_PREFIX};
use crate::schema::{self, Fields};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::collections::HashMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex};
use tantivy::collector::{Collector, SegmentCollector, TopDocs};
use tantivy::columnar::Column;
use tantivy::index::SegmentId;
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, FuzzyTermQuery, InvertedIndexRangeQuery, Occur,
    Query, RangeQuery, TermQuery, Weight,
};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocAddress, DocId, Score, Searcher, SegmentReader, Term};
use uuid::Uuid;

/// Who is asking, which decides what a query may return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Anyone: public, ready videos only.
    Public,
    /// A signed-in user: public ready videos and all of their own.
    User(Uuid),
    /// An admin: every video.
    Admin,
}

/// The order of results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// Best match first (BM25); among equal scores, most viewed first. Without words, newest.
    #[default]
    Relevance,
    /// Newest first.
    Newest,
    /// Most viewed first; among equal views, newest first.
    Views,
}

impl Sort {
    /// Parses the API's name of a sort.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "relevance" => Some(Self::Relevance),
            "newest" => Some(Self::Newest),
            "views" => Some(Self::Views),
            _ => None,
        }
    }
}

/// A search or a listing.
#[derive(Debug, Clone, Default)]
pub struct Search {
    /// Free text; empty for a listing.
    pub q: String,
    /// Only videos with this tag.
    pub tag: Option<String>,
    /// Only videos of this owner (username).
    pub owner: Option<String>,
    /// Only videos in this state (the API's name).
    pub state: Option<String>,
    /// Only videos of these channels (a channel's page, the subscription feed).
    pub channels: Option<Vec<Uuid>>,
    /// Never these videos (the feed without what the caller watched).
    pub exclude: Vec<Uuid>,
    /// What the query is, for its cursors, beyond the fields above: the channel or the
    /// subscription feed (whose channel list and watched videos may change between pages
    /// without invalidating the cursor, which is a position in time).
    pub label: Option<String>,
    /// Duration range in milliseconds, inclusive.
    pub duration_ms: (Option<u64>, Option<u64>),
    /// Creation-time range in Unix ms, inclusive.
    pub created_ms: (Option<u64>, Option<u64>),
    /// The order.
    pub sort: Sort,
    /// Page size.
    pub limit: usize,
    /// Where the page starts (a cursor this module made).
    pub cursor: Option<Cursor>,
}

/// Where a page starts, and which query it belongs to.
///
/// A cursor gives exactly the next page of the query that made it, or is refused: with
/// [`crate::CatalogueError::CursorMismatch`] when it comes from another query (or another
/// caller), with [`crate::CatalogueError::CursorExpired`] when the ranking it points into is
/// no longer kept (see [`crate::Settings::cursor_ttl`]). Never a page of something else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    /// Newest first: after the video with this order key (keyset paging: stable under any
    /// change, never expires).
    Before {
        /// The order key of the last video of the previous page.
        order: u64,
        /// [`Search::fingerprint`] of the query.
        query: u32,
    },
    /// Ranked: `offset` results into the ranking of index generation `generation`, made by
    /// the catalogue instance `instance` (a restart, or another node, makes another).
    Offset {
        /// Which opening of the catalogue made the ranking.
        instance: u32,
        /// The searcher generation the ranking was made on.
        generation: u64,
        /// How many results came before.
        offset: usize,
        /// [`Search::fingerprint`] of the query.
        query: u32,
    },
}

/// The deepest offset a ranked cursor may point to.
pub const MAX_OFFSET: usize = 10_000;

impl Cursor {
    /// The cursor as the API shows it.
    pub fn encode(&self) -> String {
        match self {
            Cursor::Before { order, query } => format!("n{order:x}.{query:x}"),
            Cursor::Offset {
                instance,
                generation,
                offset,
                query,
            } => format!("r{instance:x}.{generation:x}.{offset:x}.{query:x}"),
        }
    }

    /// Parses a cursor; `None` when it is not one this module made.
    pub fn decode(s: &str) -> Option<Self> {
        if s.len() > 80 {
            return None;
        }
        let hex = |h: &str| -> Option<u64> {
            if h.is_empty() || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            u64::from_str_radix(h, 16).ok()
        };
        if let Some(rest) = s.strip_prefix('n') {
            let (o, q) = rest.split_once('.')?;
            return Some(Cursor::Before {
                order: hex(o)?,
                query: u32::try_from(hex(q)?).ok()?,
            });
        }
        let mut parts = s.strip_prefix('r')?.split('.');
        let mut next = || parts.next().and_then(hex);
        let c = Cursor::Offset {
            instance: u32::try_from(next()?).ok()?,
            generation: next()?,
            offset: usize::try_from(next()?).ok().filter(|o| *o <= MAX_OFFSET)?,
            query: u32::try_from(next()?).ok()?,
        };
        parts.next().is_none().then_some(c)
    }

    /// The fingerprint of the query the cursor belongs to.
    pub fn query(&self) -> u32 {
        match self {
            Cursor::Before { query, .. } | Cursor::Offset { query, .. } => *query,
        }
    }
}

impl Search {
    /// A fingerprint of what the search asks and who asks it (everything but the page size
    /// and the cursor), so that a cursor is only taken by the query that made it. FNV-1a:
    /// stable across builds and nodes, not a secret (a cursor guessed by hand can only
    /// page through what its caller may list anyway).
    pub fn fingerprint(&self, scope: Scope) -> u32 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for b in bytes.iter().chain([0xffu8].iter()) {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        };
        eat(self.q.as_bytes());
        for o in [&self.tag, &self.owner, &self.state, &self.label] {
            eat(o.as_deref().unwrap_or("\u{0}").as_bytes());
        }
        for r in [self.duration_ms, self.created_ms] {
            for v in [r.0, r.1] {
                eat(&v.map_or([0xff; 9], |v| {
                    let mut b = [0; 9];
                    b[1..].copy_from_slice(&v.to_le_bytes());
                    b
                }));
            }
        }
        eat(&[self.sort as u8]);
        match scope {
            Scope::Public => eat(b"public"),
            Scope::Admin => eat(b"admin"),
            Scope::User(id) => eat(id.as_bytes()),
        }
        (h ^ (h >> 32)) as u32
    }
}

/// The most words a query may hold: each adds up to eight term queries and four typo
/// automata, so a query of a hundred words would cost a hundred times one of a word.
pub const MAX_WORDS: usize = 32;

/// Field boosts: a title word counts most.
type FieldOf = fn(&Fields) -> tantivy::schema::Field;
const FIELDS: [(f32, FieldOf); 4] = [
    (3.0, |f| f.title),
    (2.0, |f| f.tag_words),
    (1.5, |f| f.owner_words),
    (1.0, |f| f.description),
];
/// A typo or prefix match scores this fraction of the field's boost (constant per match).
const FUZZY_WEIGHT: f32 = 0.3;

/// The words part of a query: every word must match, exactly (BM25), within its typo
/// tolerance, or (the last word) as a prefix, in any field. `None` without words.
///
/// A query of one word the catalogue holds is a plain union of term queries, so that a
/// top-k search can skip blocks of postings that cannot make the page (block-max WAND):
/// its prefix matches are the [`PREFIX_TERMS`] most frequent words it begins, each scored
/// about `FUZZY_WEIGHT` of what the typed word scores (see [`expand_prefix`]).
pub(crate) fn words_query(
    f: &Fields,
    q: &str,
    searcher: Option<&Searcher>,
) -> Option<Box<dyn Query>> {
    let mut words = schema::words(q);
    words.truncate(MAX_WORDS);
    if words.is_empty() {
        return None;
    }
    // A word the catalogue holds as typed is matched as typed: typo tolerance is for words
    // it does not hold. Walking every field's dictionary within an edit distance is the
    // dearest part of a search, and a real word would mostly bring near-miss noise.
    let held = |w: &str| {
        searcher.is_some_and(|s| {
            FIELDS.iter().any(|(_, field)| {
                s.doc_freq(&Term::from_field_text(field(f), w))
                    .is_ok_and(|n| n > 0)
            })
        })
    };
    let last_is_prefix = !q.ends_with(char::is_whitespace);
    let n = words.len();
    let mut must: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let mut any: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let d = if held(w) { 0 } else { tolerance(w) };
        let prefix = i + 1 == n && last_is_prefix && w.chars().count() >= MIN_PREFIX;
        let expanded = match (prefix, searcher) {
            (true, Some(s)) => Some(expand_prefix(s, f, w)),
            _ => None,
        };
        for (fi, (boost, field)) in FIELDS.into_iter().enumerate() {
            let term = Term::from_field_text(field(f), w);
            any.push((
                Occur::Should,
                Box::new(BoostQuery::new(
                    Box::new(TermQuery::new(term.clone(), IndexRecordOption::WithFreqs)),
                    boost,
                )),
            ));
            if d > 0 {
                any.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(
                        Box::new(FuzzyTermQuery::new(term.clone(), d, true)),
                        boost * FUZZY_WEIGHT,
                    )),
                ));
            }
            match &expanded {
                Some(terms) => {
                    for (t, boosts) in terms.iter().filter(|(_, b)| b[fi] > 0.0) {
                        any.push((
                            Occur::Should,
                            Box::new(BoostQuery::new(
                                Box::new(TermQuery::new(
                                    Term::from_field_text(field(f), t),
                                    IndexRecordOption::WithFreqs,
                                )),
                                boosts[fi],
                            )),
                        ));
                    }
                }
                None if prefix => any.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(
                        Box::new(FuzzyTermQuery::new_prefix(term, 0, true)),
                        boost * FUZZY_WEIGHT,
                    )),
                )),
                None => {}
            }
        }
        if n == 1 {
            return Some(Box::new(BooleanQuery::new(any)));
        }
        must.push((Occur::Must, Box::new(BooleanQuery::new(any))));
    }
    Some(Box::new(BooleanQuery::new(must)))
}

/// How many completions of the last word a search matches.
pub const PREFIX_TERMS: usize = 16;
/// How many dictionary entries per segment and field a prefix reads at most.
const PREFIX_SCAN: usize = 4096;

/// The [`PREFIX_TERMS`] words most documents hold that begin with `prefix` (not `prefix`
/// itself), in any searched field, each with its boost per field (in [`FIELDS`] order; 0
/// where the field lacks it): `FUZZY_WEIGHT` of the field's boost, scaled by the typed
/// word's idf over the completion's, so that a completion scores about `FUZZY_WEIGHT` of
/// what the typed word would (BM25 grows with rarity; unscaled, a rare completion would
/// outrank the word as typed).
fn expand_prefix(searcher: &Searcher, f: &Fields, prefix: &str) -> Vec<(String, [f32; 4])> {
    let lo = prefix.as_bytes().to_vec();
    let mut hi = lo.clone();
    while hi.last() == Some(&0xff) {
        hi.pop();
    }
    if let Some(b) = hi.last_mut() {
        *b += 1;
    }
    let mut freq: HashMap<Vec<u8>, [u64; 4]> = HashMap::new();
    let mut typed = [0u64; 4];
    for r in searcher.segment_readers() {
        for (i, (_, field)) in FIELDS.iter().enumerate() {
            let Ok(inv) = r.inverted_index(field(f)) else {
                continue;
            };
            let mut range = inv.terms().range().ge(&lo);
            if !hi.is_empty() {
                range = range.lt(&hi);
            }
            let Ok(mut stream) = range.into_stream() else {
                continue;
            };
            let mut scanned = 0;
            while scanned < PREFIX_SCAN && stream.advance() {
                scanned += 1;
                let n = u64::from(stream.value().doc_freq);
                if stream.key() == lo.as_slice() {
                    typed[i] += n;
                } else {
                    freq.entry(stream.key().to_vec()).or_default()[i] += n;
                }
            }
        }
    }
    let mut top: Vec<(Vec<u8>, [u64; 4])> = freq.into_iter().collect();
    top.sort_by(|a, b| {
        let total = |x: &[u64; 4]| x.iter().sum::<u64>();
        total(&b.1).cmp(&total(&a.1)).then(a.0.cmp(&b.0))
    });
    top.truncate(PREFIX_TERMS);
    let docs = searcher.num_docs() as f32;
    let idf = |n: u64| {
        let n = n as f32;
        (1.0 + (docs - n + 0.5) / (n + 0.5)).ln().max(1e-3)
    };
    top.into_iter()
        .filter_map(|(k, n)| {
            let mut boosts = [0.0; 4];
            for i in 0..4 {
                if n[i] > 0 {
                    boosts[i] = FIELDS[i].0 * FUZZY_WEIGHT * idf(typed[i]) / idf(n[i]);
                }
            }
            String::from_utf8(k).ok().map(|t| (t, boosts))
        })
        .collect()
}

fn filter(q: impl Query) -> (Occur, Box<dyn Query>) {
    (
        Occur::Must,
        Box::new(ConstScoreQuery::new(Box::new(q), 0.0)),
    )
}

fn term_u64(field: tantivy::schema::Field, v: u64) -> TermQuery {
    TermQuery::new(Term::from_field_u64(field, v), IndexRecordOption::Basic)
}

fn term_text(field: tantivy::schema::Field, v: &str) -> TermQuery {
    TermQuery::new(Term::from_field_text(field, v), IndexRecordOption::Basic)
}

fn range(field: tantivy::schema::Field, (lo, hi): (Option<u64>, Option<u64>)) -> RangeQuery {
    let b = |v: Option<u64>| match v {
        Some(v) => Bound::Included(Term::from_field_u64(field, v)),
        None => Bound::Unbounded,
    };
    // A range needs one bound: an open one starts at 0.
    let lo = if lo.is_none() && hi.is_none() {
        Some(0)
    } else {
        lo
    };
    RangeQuery::new(b(lo), b(hi))
}

/// The filter a query of `scope` carries as a clause (none for an admin's listing of everything
/// alive is still one: the `alive` term).
pub(crate) fn scope_filter(f: &Fields, scope: Scope) -> (Occur, Box<dyn Query>) {
    match scope {
        Scope::Public => filter(term_u64(f.listed, 1)),
        Scope::User(me) => {
            let mine = BooleanQuery::new(vec![
                (
                    Occur::Must,
                    Box::new(term_text(f.owner_id, &me.to_string())) as Box<dyn Query>,
                ),
                (Occur::Must, Box::new(term_u64(f.alive, 1))),
            ]);
            filter(BooleanQuery::new(vec![
                (
                    Occur::Should,
                    Box::new(term_u64(f.listed, 1)) as Box<dyn Query>,
                ),
                (Occur::Should, Box::new(mine)),
            ]))
        }
        Scope::Admin => filter(term_u64(f.alive, 1)),
    }
}

/// The filters every query of `scope` carries, and the search's own.
/// Without a scope (`None`), the caller checks it itself (see [`ScopedTop`], [`newest`]).
pub(crate) fn filters(
    f: &Fields,
    s: &Search,
    scope: Option<Scope>,
) -> Vec<(Occur, Box<dyn Query>)> {
    let mut out: Vec<(Occur, Box<dyn Query>)> =
        scope.map(|sc| scope_filter(f, sc)).into_iter().collect();
    if let Some(t) = &s.tag {
        out.push(filter(term_text(f.tag, &t.to_lowercase())));
    }
    if let Some(o) = &s.owner {
        out.push(filter(term_text(f.owner, &o.to_lowercase())));
    }
    if let Some(st) = &s.state {
        out.push(filter(term_text(f.state, st)));
    }
    if let Some(channels) = &s.channels {
        let terms = channels
            .iter()
            .map(|c| Term::from_field_text(f.channel, &c.to_string()));
        out.push(filter(tantivy::query::TermSetQuery::new(terms)));
    }
    if !s.exclude.is_empty() {
        let terms = s
            .exclude
            .iter()
            .map(|v| Term::from_field_text(f.id, &v.to_string()));
        out.push((
            Occur::MustNot,
            Box::new(tantivy::query::TermSetQuery::new(terms)),
        ));
    }
    if s.duration_ms != (None, None) {
        out.push(filter(range(f.duration_ms, s.duration_ms)));
    }
    if s.created_ms != (None, None) {
        out.push(filter(range(f.created_ms, s.created_ms)));
    }
    out
}

/// One result: where it is and its order key.
pub(crate) struct Found {
    pub addr: DocAddress,
    pub order: u64,
}

pub(crate) fn column(r: &SegmentReader, name: &str) -> Option<Column<u64>> {
    r.fast_fields().u64(name).ok()
}

/// The fast columns a result is read from, opened once per segment: opening a column looks
/// its name up in the segment's column directory, which costs more than reading a value.
pub(crate) struct SegCols {
    id_hi: Option<Column<u64>>,
    id_lo: Option<Column<u64>>,
    pub(crate) views: Option<Column<u64>>,
    pub(crate) likes: Option<Column<u64>>,
    pub(crate) created_ms: Option<Column<u64>>,
    pub(crate) order: Option<Column<u64>>,
    pub(crate) version: Option<Column<u64>>,
    pub(crate) alive: Option<Column<u64>>,
    listed: Option<Column<u64>>,
    owner_hi: Option<Column<u64>>,
    owner_lo: Option<Column<u64>>,
    /// Documents in the segment.
    max_doc: DocId,
    /// The segment's documents by order key, newest first (deleted ones too), made at the
    /// first use: what the latest listing walks (see [`newest`]).
    by_order: std::sync::OnceLock<Box<[DocId]>>,
}

impl SegCols {
    fn open(r: &SegmentReader) -> Self {
        Self {
            max_doc: r.max_doc(),
            by_order: std::sync::OnceLock::new(),
            id_hi: column(r, "id_hi"),
            id_lo: column(r, "id_lo"),
            views: column(r, "views"),
            likes: column(r, "likes"),
            created_ms: column(r, "created_ms"),
            order: column(r, "order"),
            version: column(r, "version"),
            alive: column(r, "alive"),
            listed: column(r, "listed"),
            owner_hi: column(r, "owner_hi"),
            owner_lo: column(r, "owner_lo"),
        }
    }

    /// Whether `scope` may list document `doc` (as the index has it).
    pub(crate) fn allows(&self, scope: Scope, doc: DocId) -> bool {
        match scope {
            Scope::Public => Self::get(&self.listed, doc) == 1,
            Scope::Admin => Self::get(&self.alive, doc) == 1,
            Scope::User(me) => {
                Self::get(&self.listed, doc) == 1
                    || (Self::get(&self.alive, doc) == 1
                        && Uuid::from_u64_pair(
                            Self::get(&self.owner_hi, doc),
                            Self::get(&self.owner_lo, doc),
                        ) == me)
            }
        }
    }

    /// The segment's documents by order key, newest first (ties: lower document first).
    /// 4 bytes per document; sorting a merged segment of 1M documents takes some 50 ms, once.
    pub(crate) fn by_order(&self) -> &[DocId] {
        self.by_order.get_or_init(|| {
            let mut keyed: Vec<(u64, DocId)> = (0..self.max_doc)
                .map(|d| (Self::get(&self.order, d), d))
                .collect();
            keyed.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            keyed.into_iter().map(|(_, d)| d).collect()
        })
    }

    /// A document's video id.
    pub(crate) fn id(&self, doc: DocId) -> Option<Uuid> {
        let hi = self.id_hi.as_ref()?.first(doc)?;
        let lo = self.id_lo.as_ref()?.first(doc)?;
        Some(Uuid::from_u64_pair(hi, lo))
    }

    /// A document's value in `col` (0 when it has none).
    pub(crate) fn get(col: &Option<Column<u64>>, doc: DocId) -> u64 {
        col.as_ref().and_then(|c| c.first(doc)).unwrap_or(0)
    }
}

/// [`SegCols`] of the segments queries have read, by segment; pruned to the live segments
/// after every commit.
#[derive(Default)]
pub(crate) struct Columns(Mutex<HashMap<SegmentId, Arc<SegCols>>>);

impl Columns {
    /// The columns of `r`'s segment.
    pub(crate) fn of(&self, r: &SegmentReader) -> Arc<SegCols> {
        let mut m = self.0.lock().expect("columns lock");
        m.entry(r.segment_id())
            .or_insert_with(|| Arc::new(SegCols::open(r)))
            .clone()
    }

    /// Forgets the segments `searcher` no longer has (merged away), and makes the new ones'
    /// order (see [`SegCols::by_order`]) here, after a commit, rather than in the first
    /// listing that needs it.
    pub(crate) fn retain(&self, searcher: &Searcher) {
        for r in searcher.segment_readers() {
            self.of(r).by_order();
        }
        let live: std::collections::HashSet<SegmentId> = searcher
            .segment_readers()
            .iter()
            .map(|r| r.segment_id())
            .collect();
        self.0
            .lock()
            .expect("columns lock")
            .retain(|k, _| live.contains(k));
    }
}

/// Newest first, before `before`, among what `scope` may list and `base` (the search's own
/// filters, without the scope) matches.
///
/// - With no filter of its own (the latest videos), the segments' documents are walked in
///   order-key order ([`SegCols::by_order`]), merged across segments, each checked on the fast
///   columns (deleted? may `scope` list it?) until the page is full: some `want` documents
///   read, whatever the size of the catalogue. Past [`WALK_MAX`] documents refused in a row
///   (the newest are all private, say), it falls back to the search below.
/// - Otherwise a search, whose collector checks the scope on the fast columns (as
///   [`ScopedTop`] does): a term filter (tag, owner, channel) or words drive it through their
///   own postings, without an intersection with the dense `listed` postings, which decodes a
///   block of them per match. A listing filtered by nothing that selective is searched in
///   windows of the order key that start small and grow.
#[allow(clippy::too_many_arguments)]
pub(crate) fn newest(
    searcher: &Searcher,
    cols: &Arc<Columns>,
    f: &Fields,
    s: &Search,
    scope: Scope,
    base: Vec<(Occur, Box<dyn Query>)>,
    before: Option<u64>,
    want: usize,
) -> tantivy::Result<Vec<Found>> {
    let (lo_all, hi_all, docs) = order_bounds(searcher, cols);
    let top = before.unwrap_or(u64::MAX).min(hi_all.saturating_add(1));
    if want == 0 {
        return Ok(Vec::new());
    }
    // Only clauses that exclude (`MustNot`) match nothing alone: the scope's postings drive.
    let unfiltered = base.iter().all(|(o, _)| *o == Occur::MustNot);
    if base.is_empty() {
        if let Some(found) = walk_newest(searcher, cols, scope, top, want) {
            return Ok(found);
        }
    }
    let collect = ScopedNewest {
        limit: want,
        scope,
        cols: cols.clone(),
    };
    let run = |extra: Option<Box<dyn Query>>| -> tantivy::Result<Vec<Found>> {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> =
            base.iter().map(|(o, q)| (*o, q.box_clone())).collect();
        if unfiltered {
            // Nothing else to drive the search: the scope's postings do.
            clauses.push(scope_filter(f, scope));
        }
        clauses.extend(extra.map(|e| (Occur::Must, e)));
        let q = BooleanQuery::new(clauses);
        searcher.search(&q, &collect)
    };
    // A term filter (tag, owner, state) or words drive the search through their own
    // postings: ranking all they match reads those and one column value each. Only a listing
    // filtered by nothing that selective needs windows: a window is a range over the order
    // key, one posting per video in it, so it pays only when small.
    let matching = selective_estimate(searcher, f, s)
        .unwrap_or(docs)
        .clamp(1, docs.max(1));
    let selective = matching <= docs / 8 || !schema::words(&s.q).is_empty();
    if docs > 0 && hi_all > lo_all && !selective {
        // Start with a window expected to hold 4 pages of the matches, and widen it
        // eightfold while it holds too few; past ~1/8 of the catalogue, rank it all.
        let span = (hi_all - lo_all) as f64;
        let mut window = ((span / matching as f64) * (want as f64) * 4.0).max(1.0) as u64;
        loop {
            let lo = top.saturating_sub(window);
            if lo <= lo_all || (window as f64) > span / 8.0 {
                break;
            }
            let q = InvertedIndexRangeQuery::new(
                Bound::Included(Term::from_field_u64(f.order, lo)),
                Bound::Excluded(Term::from_field_u64(f.order, top)),
            );
            let found = run(Some(Box::new(ConstScoreQuery::new(Box::new(q), 0.0))))?;
            if found.len() >= want {
                return Ok(found);
            }
            window = window.saturating_mul(8);
        }
    }
    let cut = before.map(|b| {
        Box::new(ConstScoreQuery::new(
            Box::new(RangeQuery::new(
                Bound::Unbounded,
                Bound::Excluded(Term::from_field_u64(f.order, b)),
            )),
            0.0,
        )) as Box<dyn Query>
    });
    run(cut)
}

/// How many documents in a row the latest listing's walk may refuse before it searches
/// instead (see [`newest`]).
pub(crate) const WALK_MAX: usize = 4096;

/// The newest `want` documents below `top` that `scope` may list, walking the segments'
/// documents in order-key order; `None` past [`WALK_MAX`] refused in a row.
fn walk_newest(
    searcher: &Searcher,
    cols: &Columns,
    scope: Scope,
    top: u64,
    want: usize,
) -> Option<Vec<Found>> {
    struct Seg<'a> {
        ord: u32,
        reader: &'a SegmentReader,
        cols: Arc<SegCols>,
    }
    let segs: Vec<Seg> = searcher
        .segment_readers()
        .iter()
        .enumerate()
        .filter(|(_, r)| r.num_docs() > 0)
        .map(|(ord, r)| Seg {
            ord: ord as u32,
            reader: r,
            cols: cols.of(r),
        })
        .collect();
    // Each segment's next document: (order key, the segment's place, its position in the
    // segment's order). The newest of them is taken next.
    let mut next: BinaryHeap<(u64, Reverse<usize>, usize)> = BinaryHeap::new();
    for (i, seg) in segs.iter().enumerate() {
        let sorted = seg.cols.by_order();
        // The first page (no cursor) starts at the top of every segment: no search.
        let newest = seg.cols.order.as_ref().map_or(0, |c| c.max_value());
        let at = if newest < top {
            0
        } else {
            sorted.partition_point(|&d| SegCols::get(&seg.cols.order, d) >= top)
        };
        if let Some(&d) = sorted.get(at) {
            next.push((SegCols::get(&seg.cols.order, d), Reverse(i), at));
        }
    }
    let mut found = Vec::with_capacity(want);
    let mut refused = 0;
    while let Some((order, Reverse(i), at)) = next.pop() {
        let seg = &segs[i];
        let sorted = seg.cols.by_order();
        let doc = sorted[at];
        let alive = seg.reader.alive_bitset().is_none_or(|a| a.is_alive(doc));
        if alive && seg.cols.allows(scope, doc) {
            found.push(Found {
                addr: DocAddress {
                    segment_ord: seg.ord,
                    doc_id: doc,
                },
                order,
            });
            if found.len() == want {
                break;
            }
            refused = 0;
        } else {
            refused += 1;
            if refused > WALK_MAX {
                return None;
            }
        }
        if let Some(&d) = sorted.get(at + 1) {
            next.push((SegCols::get(&seg.cols.order, d), Reverse(i), at + 1));
        }
    }
    Some(found)
}

/// The newest `limit` documents `scope` may list among those a query matches: the scope is
/// checked on the fast columns while collecting, not as a query clause (see [`newest`]).
struct ScopedNewest {
    limit: usize,
    scope: Scope,
    cols: Arc<Columns>,
}

/// A collected document's place: its order key, then (reversed) its address; larger is newer.
type NewestKey = (u64, Reverse<DocAddress>);

/// The newest `limit` of `keys`, newest first.
fn newest_first(mut keys: Vec<NewestKey>, limit: usize) -> Vec<NewestKey> {
    keys.sort_unstable_by(|a, b| b.cmp(a));
    keys.truncate(limit);
    keys
}

/// The per-segment side of [`ScopedNewest`]: a min-heap of the newest `limit` so far.
struct ScopedNewestSegment {
    ord: u32,
    limit: usize,
    scope: Scope,
    cols: Arc<SegCols>,
    heap: BinaryHeap<Reverse<NewestKey>>,
}

impl SegmentCollector for ScopedNewestSegment {
    type Fruit = Vec<NewestKey>;

    fn collect(&mut self, doc: DocId, _: Score) {
        let order = SegCols::get(&self.cols.order, doc);
        if self.heap.len() == self.limit
            && self
                .heap
                .peek()
                .is_some_and(|Reverse(least)| least.0 >= order)
        {
            return;
        }
        if !self.cols.allows(self.scope, doc) {
            return;
        }
        let addr = DocAddress {
            segment_ord: self.ord,
            doc_id: doc,
        };
        self.heap.push(Reverse((order, Reverse(addr))));
        if self.heap.len() > self.limit {
            self.heap.pop();
        }
    }

    fn harvest(self) -> Vec<NewestKey> {
        newest_first(
            self.heap.into_iter().map(|Reverse(k)| k).collect(),
            self.limit,
        )
    }
}

impl Collector for ScopedNewest {
    type Fruit = Vec<Found>;
    type Child = ScopedNewestSegment;

    fn for_segment(&self, ord: u32, r: &SegmentReader) -> tantivy::Result<ScopedNewestSegment> {
        Ok(ScopedNewestSegment {
            ord,
            limit: self.limit,
            scope: self.scope,
            cols: self.cols.of(r),
            heap: BinaryHeap::with_capacity(self.limit + 1),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<NewestKey>>) -> tantivy::Result<Vec<Found>> {
        Ok(
            newest_first(fruits.into_iter().flatten().collect(), self.limit)
                .into_iter()
                .map(|(order, Reverse(addr))| Found { addr, order })
                .collect(),
        )
    }
}

/// Finds videos' live documents by id: the id's postings in each segment, the largest
/// segments first (where most documents are), up to the one that is not deleted. A few term
/// lookups per video, where a set query over ids builds a bitset of every document of every
/// segment.
pub(crate) struct IdLookup<'a> {
    segments: Vec<(u32, &'a SegmentReader, Arc<tantivy::InvertedIndexReader>)>,
    field: tantivy::schema::Field,
}

impl<'a> IdLookup<'a> {
    pub(crate) fn new(searcher: &'a Searcher, f: &Fields) -> tantivy::Result<Self> {
        let mut segments = Vec::new();
        for (ord, r) in searcher.segment_readers().iter().enumerate() {
            if r.num_docs() > 0 {
                segments.push((ord as u32, r, r.inverted_index(f.id)?));
            }
        }
        segments.sort_by_key(|(_, r, _)| Reverse(r.num_docs()));
        Ok(Self {
            segments,
            field: f.id,
        })
    }

    /// The live document of video `id`, if the index has one.
    pub(crate) fn find(&self, id: &Uuid) -> tantivy::Result<Option<DocAddress>> {
        use tantivy::DocSet;
        let term = Term::from_field_text(self.field, &id.to_string());
        for (ord, r, inv) in &self.segments {
            let Some(info) = inv.get_term_info(&term)? else {
                continue;
            };
            let mut postings = inv.read_postings_from_terminfo(&info, IndexRecordOption::Basic)?;
            let mut doc = postings.doc();
            while doc != tantivy::TERMINATED {
                if r.alive_bitset().is_none_or(|a| a.is_alive(doc)) {
                    return Ok(Some(DocAddress {
                        segment_ord: *ord,
                        doc_id: doc,
                    }));
                }
                doc = postings.advance();
            }
        }
        Ok(None)
    }
}

/// How many documents the most selective term filter of `s` (tag, owner, state) matches,
/// deleted ones included; `None` without such a filter.
fn selective_estimate(searcher: &Searcher, f: &Fields, s: &Search) -> Option<u64> {
    let terms = [
        s.tag
            .as_ref()
            .map(|t| Term::from_field_text(f.tag, &t.to_lowercase())),
        s.owner
            .as_ref()
            .map(|o| Term::from_field_text(f.owner, &o.to_lowercase())),
        s.state
            .as_ref()
            .map(|st| Term::from_field_text(f.state, st)),
    ];
    let channels = s.channels.as_ref().map(|cs| {
        cs.iter()
            .filter_map(|c| {
                searcher
                    .doc_freq(&Term::from_field_text(f.channel, &c.to_string()))
                    .ok()
            })
            .sum::<u64>()
    });
    terms
        .into_iter()
        .flatten()
        .filter_map(|t| searcher.doc_freq(&t).ok())
        .chain(channels)
        .min()
}

/// The smallest and largest order key, and the number of documents.
fn order_bounds(searcher: &Searcher, cols: &Columns) -> (u64, u64, u64) {
    let mut lo = u64::MAX;
    let mut hi = 0;
    let mut n = 0;
    for r in searcher.segment_readers() {
        if let Some(c) = &cols.of(r).order {
            if r.num_docs() > 0 {
                lo = lo.min(c.min_value());
                hi = hi.max(c.max_value());
                n += u64::from(r.num_docs());
            }
        }
    }
    (lo.min(hi), hi, n)
}

/// Ranked by score (ties: most viewed), `offset` results in, among what `scope` may list.
pub(crate) fn by_relevance(
    searcher: &Searcher,
    cols: &Arc<Columns>,
    q: &dyn Query,
    scope: Scope,
    offset: usize,
    want: usize,
) -> tantivy::Result<Vec<Found>> {
    let top = ScopedTop {
        limit: offset + want,
        scope,
        cols: cols.clone(),
    };
    Ok(searcher
        .search(q, &top)?
        .into_iter()
        .skip(offset)
        .map(|k| Found {
            addr: k.addr,
            order: SegCols::get(
                &cols.of(searcher.segment_reader(k.addr.segment_ord)).order,
                k.addr.doc_id,
            ),
        })
        .collect())
}

/// The best `limit` documents `scope` may list, by score, then views, then address: a total
/// order, so the best `n` are always the first `n` of the best `m > n` and offset pages
/// neither repeat nor skip. The scope is checked on fast columns while collecting, not as a
/// query clause, so that a union of term queries keeps tantivy's block-max WAND (it skips
/// postings blocks that cannot reach the current `limit`-th score).
struct ScopedTop {
    limit: usize,
    scope: Scope,
    cols: Arc<Columns>,
}

/// A collected document's rank: score, then views, then (reversed) address; larger is better.
#[derive(Clone, Copy, PartialEq)]
struct Key {
    score: Score,
    views: u64,
    addr: DocAddress,
}

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.score
            .total_cmp(&other.score)
            .then(self.views.cmp(&other.views))
            .then(other.addr.cmp(&self.addr))
    }
}

/// The best `limit` of `keys`, best first.
fn best_first(mut keys: Vec<Key>, limit: usize) -> Vec<Key> {
    keys.sort_by(|a, b| b.cmp(a));
    keys.truncate(limit);
    keys
}

/// The per-segment side of [`ScopedTop`] when tantivy does not call `collect_segment`.
struct ScopedTopSegment {
    ord: u32,
    limit: usize,
    scope: Scope,
    cols: Arc<SegCols>,
    keys: Vec<Key>,
}

impl SegmentCollector for ScopedTopSegment {
    type Fruit = Vec<Key>;

    fn collect(&mut self, doc: DocId, score: Score) {
        if self.cols.allows(self.scope, doc) {
            self.keys.push(Key {
                score,
                views: SegCols::get(&self.cols.views, doc),
                addr: DocAddress {
                    segment_ord: self.ord,
                    doc_id: doc,
                },
            });
        }
    }

    fn harvest(self) -> Vec<Key> {
        best_first(self.keys, self.limit)
    }
}

impl Collector for ScopedTop {
    type Fruit = Vec<Key>;
    type Child = ScopedTopSegment;

    fn for_segment(&self, ord: u32, r: &SegmentReader) -> tantivy::Result<ScopedTopSegment> {
        Ok(ScopedTopSegment {
            ord,
            limit: self.limit,
            scope: self.scope,
            cols: self.cols.of(r),
            keys: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn merge_fruits(&self, fruits: Vec<Vec<Key>>) -> tantivy::Result<Vec<Key>> {
        Ok(best_first(
            fruits.into_iter().flatten().collect(),
            self.limit,
        ))
    }

    fn collect_segment(
        &self,
        weight: &dyn Weight,
        ord: u32,
        r: &SegmentReader,
    ) -> tantivy::Result<Vec<Key>> {
        let cols = self.cols.of(r);
        let alive = r.alive_bitset();
        // A min-heap of the best `limit` so far. Its least score is the bar; a document
        // scoring the same may still win on views, so the threshold tantivy gets is just
        // below it (tantivy passes only scores above the threshold).
        let mut heap: BinaryHeap<Reverse<Key>> = BinaryHeap::new();
        let mut threshold = Score::MIN;
        if self.limit > 0 {
            weight.for_each_pruning(Score::MIN, r, &mut |doc, score| {
                if alive.is_some_and(|a| a.is_deleted(doc)) || !cols.allows(self.scope, doc) {
                    return threshold;
                }
                heap.push(Reverse(Key {
                    score,
                    views: SegCols::get(&cols.views, doc),
                    addr: DocAddress {
                        segment_ord: ord,
                        doc_id: doc,
                    },
                }));
                if heap.len() > self.limit {
                    heap.pop();
                }
                if heap.len() == self.limit {
                    if let Some(Reverse(least)) = heap.peek() {
                        threshold = least.score.next_down();
                    }
                }
                threshold
            })?;
        }
        Ok(best_first(
            heap.into_iter().map(|Reverse(k)| k).collect(),
            self.limit,
        ))
    }
}

/// Ranked by views (ties: newest), `offset` results in.
pub(crate) fn by_views(
    searcher: &Searcher,
    cols: &Arc<Columns>,
    q: &dyn Query,
    offset: usize,
    want: usize,
) -> tantivy::Result<Vec<Found>> {
    let tweak = cols.clone();
    let top = TopDocs::with_limit(want)
        .and_offset(offset)
        .tweak_score(move |r: &SegmentReader| {
            let c = tweak.of(r);
            move |doc, _: Score| (SegCols::get(&c.views, doc), SegCols::get(&c.order, doc))
        });
    Ok(searcher
        .search(q, &top)?
        .into_iter()
        .map(|((_, order), addr)| Found { addr, order })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        for c in [
            Cursor::Before {
                order: 0x1234_5678_9abc,
                query: 0xdead_beef,
            },
            Cursor::Offset {
                instance: 3,
                generation: 7,
                offset: 40,
                query: 0,
            },
        ] {
            assert_eq!(Cursor::decode(&c.encode()), Some(c));
        }
        for bad in [
            "",
            "n",
            "nzz",
            "n12",
            "n12.",
            "n12.1ffffffff",
            "n+12.3",
            "r1",
            "r1.",
            "r1.2.3",
            "r1.2.3.4.5",
            "x12",
            "r1.2.ffffff.0",
            "n-1.0",
            "r1.2.-3.0",
        ] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn fingerprints_tell_queries_and_callers_apart() {
        let a = Search {
            q: "mountain".into(),
            ..Default::default()
        };
        let b = Search {
            q: "mountains".into(),
            ..Default::default()
        };
        let c = Search {
            q: "mountain".into(),
            tag: Some("x".into()),
            ..Default::default()
        };
        let d = Search {
            q: "mountain".into(),
            sort: Sort::Views,
            ..Default::default()
        };
        let paged = Search {
            limit: 7,
            cursor: Some(Cursor::Before { order: 1, query: 2 }),
            ..a.clone()
        };
        let fa = a.fingerprint(Scope::Public);
        assert_eq!(fa, paged.fingerprint(Scope::Public));
        for other in [
            b.fingerprint(Scope::Public),
            c.fingerprint(Scope::Public),
            d.fingerprint(Scope::Public),
            a.fingerprint(Scope::Admin),
            a.fingerprint(Scope::User(Uuid::from_u128(1))),
        ] {
            assert_ne!(fa, other);
        }
        assert_ne!(
            a.fingerprint(Scope::User(Uuid::from_u128(1))),
            a.fingerprint(Scope::User(Uuid::from_u128(2)))
        );
    }
}
