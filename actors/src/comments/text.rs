//! What a comment's text holds: links and `@mentions`, found with their UTF-16 offsets (what
//! a browser's string indices count), and watched words. Text is never changed: it is stored
//! and returned as posted, and these spans only point into it.

use serde::{Deserialize, Serialize};

/// A link found in a comment's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LinkSpan {
    /// UTF-16 offset of its first character in `text`.
    pub start: u32,
    /// UTF-16 offset just past its last character.
    pub end: u32,
    /// The link as written (`http://` or `https://`, or `www.` with `https://` in front).
    pub url: String,
}

/// A mention of a known user (`@username`) in a comment's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MentionSpan {
    /// UTF-16 offset of the `@`.
    pub start: u32,
    /// UTF-16 offset just past the name.
    pub end: u32,
    /// The user's (normalised) username.
    pub username: String,
}

fn utf16_offset(text: &str, byte: usize) -> u32 {
    text[..byte].encode_utf16().count() as u32
}

/// Characters that end a link when they close it (`see https://a.b/c.` is `https://a.b/c`).
const TRAILING: &[char] = &['.', ',', ';', ':', '!', '?', ')', ']', '}', '\'', '"', '>'];

/// The links in `text`: words starting with `http://`, `https://` or `www.`.
pub fn links(text: &str) -> Vec<LinkSpan> {
    let mut out = Vec::new();
    for (start, word) in words(text) {
        let lower = word.to_ascii_lowercase();
        let scheme = ["http://", "https://", "www."]
            .into_iter()
            .find(|p| lower.starts_with(p));
        let Some(prefix) = scheme else { continue };
        let trimmed = word.trim_end_matches(TRAILING);
        if trimmed.len() <= prefix.len() {
            continue;
        }
        let url = if prefix == "www." {
            format!("https://{trimmed}")
        } else {
            trimmed.to_string()
        };
        out.push(LinkSpan {
            start: utf16_offset(text, start),
            end: utf16_offset(text, start + trimmed.len()),
            url,
        });
    }
    out
}

/// The `@names` in `text` (lowercased, without the `@`), with their byte ranges: candidates
/// for mentions, which the caller keeps when the user exists.
pub fn mention_candidates(text: &str) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'@' && (i == 0 || !is_name_byte(bytes[i - 1])) {
            let mut j = i + 1;
            while j < bytes.len() && is_name_byte(bytes[j]) {
                j += 1;
            }
            // Trailing dots end a sentence, not a name.
            while j > i + 1 && bytes[j - 1] == b'.' {
                j -= 1;
            }
            if j > i + 1 && j - i - 1 <= 64 {
                out.push((i, j, text[i + 1..j].to_ascii_lowercase()));
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.'
}

/// Mentions of the candidates that `known` says exist.
pub fn mentions(text: &str, known: &[String]) -> Vec<MentionSpan> {
    mention_candidates(text)
        .into_iter()
        .filter(|(_, _, name)| known.contains(name))
        .map(|(s, e, username)| MentionSpan {
            start: utf16_offset(text, s),
            end: utf16_offset(text, e),
            username,
        })
        .collect()
}

/// Whitespace-separated words with their byte offsets.
fn words(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut rest = text;
    let mut offset = 0;
    std::iter::from_fn(move || {
        let skip = rest.len() - rest.trim_start().len();
        offset += skip;
        rest = &rest[skip..];
        if rest.is_empty() {
            return None;
        }
        let len = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let word = (offset, &rest[..len]);
        offset += len;
        rest = &rest[len..];
        Some(word)
    })
}

/// The first of `watched` (lowercase words or phrases) that `text` contains as a whole word,
/// ignoring case and the invisible characters that could split a word
/// ([`is_invisible`]).
pub fn watched_word<'a>(text: &str, watched: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let folded: String = text
        .chars()
        .filter(|c| !is_invisible(*c))
        .flat_map(char::to_lowercase)
        .collect();
    for w in watched {
        let w = w.trim().to_lowercase();
        if w.is_empty() {
            continue;
        }
        let mut from = 0;
        while let Some(at) = folded[from..].find(&w) {
            let s = from + at;
            let e = s + w.len();
            let before = folded[..s].chars().next_back();
            let after = folded[e..].chars().next();
            if !before.is_some_and(char::is_alphanumeric)
                && !after.is_some_and(char::is_alphanumeric)
            {
                return Some(w);
            }
            from = s + folded[s..].chars().next().map_or(1, char::len_utf8);
        }
    }
    None
}

/// Zero-width characters and bidirectional controls: they render as nothing (or reorder what
/// follows) and can disguise a name or split a word.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
            | '\u{061C}'
            | '\u{00AD}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_have_utf16_offsets_and_lose_trailing_punctuation() {
        let t = "😀 see https://a.example/x?y=1. and www.b.example!";
        let l = links(t);
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].url, "https://a.example/x?y=1");
        // The emoji is two UTF-16 units, then a space and "see ".
        assert_eq!((l[0].start, l[0].end), (7, 7 + 23));
        assert_eq!(l[1].url, "https://www.b.example");
        assert!(links("http:// alone").is_empty());
    }

    #[test]
    fn mentions_are_names_after_an_at_sign() {
        let c = mention_candidates("hi @Alice_B, mail a@b.c and @bob.");
        let names: Vec<&str> = c.iter().map(|(_, _, n)| n.as_str()).collect();
        assert_eq!(names, ["alice_b", "bob"]);
        let m = mentions("hi @Alice_B", &["alice_b".to_string()]);
        assert_eq!((m[0].start, m[0].end), (3, 11));
    }

    #[test]
    fn watched_words_match_whole_words_through_invisible_characters() {
        assert_eq!(
            watched_word("Buy CHEAP\u{200B}pills", ["cheappills"]),
            Some("cheappills".into())
        );
        assert_eq!(watched_word("scunthorpe", ["cunt"]), None);
        assert_eq!(watched_word("a spam b", ["spam"]), Some("spam".into()));
    }
}
