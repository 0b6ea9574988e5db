//! Which words of a title or description a query matched, as plain-text segments: the
//! client marks them up itself, so user text is never sent as markup.

use crate::schema;
use serde::Serialize;

/// A run of text, matched by the query or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Segment {
    /// The text, exactly as in the video (not escaped: render it as text).
    pub text: String,
    /// Whether the query matched this word.
    pub hit: bool,
}

/// How far a query word may be from a word it matches: 0 under 5 letters, 1 from 5, 2 from
/// 8 (Damerau–Levenshtein, a swap of two letters counting once).
pub fn tolerance(word: &str) -> u8 {
    match word.chars().count() {
        0..=4 => 0,
        5..=7 => 1,
        _ => 2,
    }
}

/// The shortest last word that also matches as a prefix.
pub const MIN_PREFIX: usize = 2;

/// A query's words, ready to mark the words they match.
#[derive(Debug, Clone)]
pub struct Highlighter {
    words: Vec<String>,
    /// Whether the last word also matches as a prefix (the query does not end in a space).
    last_is_prefix: bool,
}

impl Highlighter {
    /// The highlighter of query `q`.
    pub fn new(q: &str) -> Self {
        let words = schema::words(q);
        let last_is_prefix = !q.ends_with(char::is_whitespace);
        Self {
            words,
            last_is_prefix,
        }
    }

    /// Whether the query has any words.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Whether `word` (already analysed) matches one of the query's words.
    pub fn matches(&self, word: &str) -> bool {
        let n = self.words.len();
        self.words.iter().enumerate().any(|(i, q)| {
            if q == word {
                return true;
            }
            if i + 1 == n
                && self.last_is_prefix
                && q.chars().count() >= MIN_PREFIX
                && word.starts_with(q.as_str())
            {
                return true;
            }
            let d = usize::from(tolerance(q));
            // Words whose lengths differ by more than `d` are further apart than `d`.
            d > 0 && q.chars().count().abs_diff(word.chars().count()) <= d && distance(q, word) <= d
        })
    }

    /// `text` cut into matched and unmatched runs.
    pub fn segments(&self, text: &str) -> Vec<Segment> {
        let mut out: Vec<Segment> = Vec::new();
        let mut push = |s: &str, hit: bool| match out.last_mut() {
            Some(last) if last.hit == hit && !hit => last.text.push_str(s),
            _ => out.push(Segment {
                text: s.to_owned(),
                hit,
            }),
        };
        for (word, piece) in runs(text) {
            let hit = word && {
                let w = schema::words(piece);
                !w.is_empty() && w.iter().all(|w| self.matches(w))
            };
            push(piece, hit);
        }
        out
    }

    /// About `max_chars` of `text` around its first match (its start when nothing matches),
    /// cut at word boundaries, with `…` where text was left out, as segments.
    pub fn snippet(&self, text: &str, max_chars: usize) -> Vec<Segment> {
        let pieces: Vec<(bool, &str)> = runs(text).collect();
        let first = pieces
            .iter()
            .position(|(word, p)| *word && schema::words(p).iter().any(|w| self.matches(w)))
            .unwrap_or(0);
        // Start a few words before the first match.
        let mut start = first;
        let mut before = 0;
        while start > 0 && before < max_chars / 4 {
            start -= 1;
            before += pieces[start].1.chars().count();
        }
        let mut end = start;
        let mut len = 0;
        while end < pieces.len() && len + pieces[end].1.chars().count() <= max_chars {
            len += pieces[end].1.chars().count();
            end += 1;
        }
        if end == start && end < pieces.len() {
            end += 1;
        }
        let mut text_out = String::new();
        if start > 0 {
            text_out.push('…');
        }
        let body: String = pieces[start..end].iter().map(|(_, p)| *p).collect();
        text_out.push_str(body.trim());
        let mut segs = self.segments(&text_out);
        if end < pieces.len() {
            segs.push(Segment {
                text: "…".into(),
                hit: false,
            });
        }
        segs
    }
}

/// `text` as alternating runs of word characters (`true`) and the rest (`false`).
fn runs(text: &str) -> impl Iterator<Item = (bool, &str)> {
    let mut rest = text;
    std::iter::from_fn(move || {
        let first = rest.chars().next()?;
        let word = first.is_alphanumeric();
        let end = rest
            .char_indices()
            .find(|(_, c)| c.is_alphanumeric() != word)
            .map_or(rest.len(), |(i, _)| i);
        let (piece, tail) = rest.split_at(end);
        rest = tail;
        Some((word, piece))
    })
}

/// The optimal-string-alignment distance between `a` and `b` (insertions, deletions,
/// substitutions, and swaps of neighbours, each costing one).
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > 2 {
        return a.len().abs_diff(b.len());
    }
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        d[i * w] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(w) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * w + j] + 1)
                .min(d[i * w + j - 1] + 1)
                .min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = v;
        }
    }
    d[a.len() * w + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_count_swaps_once() {
        assert_eq!(distance("kitten", "sitten"), 1);
        assert_eq!(distance("recieve", "receive"), 1);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
    }

    #[test]
    fn exact_typo_and_prefix_words_are_marked_and_text_is_kept_whole() {
        let h = Highlighter::new("Aquarium <b>mountian bi");
        let segs = h.segments("The <b>Mountain</b> aquarium, biking!");
        let text: String = segs.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(text, "The <b>Mountain</b> aquarium, biking!");
        let hits: Vec<&str> = segs
            .iter()
            .filter(|s| s.hit)
            .map(|s| s.text.as_str())
            .collect();
        assert_eq!(hits, ["b", "Mountain", "b", "aquarium", "biking"]);
    }

    #[test]
    fn short_words_need_an_exact_match() {
        let h = Highlighter::new("cat ");
        assert!(h.matches("cat"));
        assert!(!h.matches("cats"));
        assert!(!h.matches("bat"));
    }

    #[test]
    fn a_snippet_centres_on_the_first_match() {
        let text = format!("{} needle {}", "hay ".repeat(100), "straw ".repeat(100));
        let segs = Highlighter::new("needle").snippet(&text, 80);
        let joined: String = segs.iter().map(|s| s.text.as_str()).collect();
        assert!(joined.starts_with('…') && joined.ends_with('…'), "{joined}");
        assert!(joined.chars().count() <= 84, "{joined}");
        assert!(segs.iter().any(|s| s.hit && s.text == "needle"));
    }
}
