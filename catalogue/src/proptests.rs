//! Property tests of what the catalogue parses from outside: cursors, query text (its words,
//! its highlighting) and whole searches on a real index with any query, sort, page size and
//! cursor. Nothing panics, a cursor the catalogue gave out parses back to itself, and a bad
//! query or cursor is refused with an error of its own kind, never an index failure (which
//! the API answers 503). 10,000 cases each.

use super::*;
use crate::highlight::Highlighter;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use troupe_actors::events::Visibility;

/// 10,000 cases, as the issue asks of every parser of outside input; no regression files are
/// written into the source tree.
fn config() -> Config {
    Config {
        cases: 10_000,
        failure_persistence: None,
        ..Config::default()
    }
}

/// A cursor: a real one's shape, near misses, or anything.
fn cursor_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[nrx]?[0-9a-fA-F]{0,20}(\\.[0-9a-fA-Fx+-]{0,20}){0,4}",
        "[\\PC]{0,40}",
        any::<u64>().prop_map(|n| format!("n{n:x}")),
        (any::<u64>(), any::<u64>()).prop_map(|(g, o)| format!("r{g:x}.{o:x}")),
    ]
}

/// A query as people and programs type it: words, syntax characters, other scripts, typos.
fn query() -> impl Strategy<Value = String> {
    prop_oneof![
        "[\\PC]{0,40}",
        "(mountain|mountian|aquarium|wales|nature|a|é|[a-z]{1,12})([ :\"*~()\\[\\]+-]{1,2}[a-z]{0,9}){0,6}[ ]?",
        "[a-zA-Z0-9 ]{0,120}",
    ]
}

#[test]
fn a_cursor_parses_back_to_itself_and_garbage_is_none() {
    TestRunner::new(config())
        .run(&cursor_text(), |s| {
            if let Some(c) = Cursor::decode(&s) {
                prop_assert_eq!(Cursor::decode(&c.encode()), Some(c));
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn query_words_and_highlights_cover_the_text_without_panicking() {
    TestRunner::new(config())
        .run(&(query(), "[\\PC]{0,120}"), |(q, text)| {
            let words = schema::words(&q);
            prop_assert!(words.iter().all(|w| !w.is_empty()));
            prop_assert_eq!(is_searchable(&q), !words.is_empty());
            let fields = schema::Fields::new();
            prop_assert_eq!(words_query(&fields, &q).is_some(), !words.is_empty());
            let h = Highlighter::new(&q);
            // The segments of a title are the title, cut up.
            let title: String = h.segments(&text).into_iter().map(|s| s.text).collect();
            prop_assert_eq!(title, text.clone());
            // A snippet is a piece of the text (and an ellipsis or two).
            let snippet: String = h.snippet(&text, 200).into_iter().map(|s| s.text).collect();
            prop_assert!(snippet.chars().count() <= text.chars().count() + 2);
            Ok(())
        })
        .unwrap();
}

/// [`crate::tests::video`] with more words, its first word as a tag too, and `visibility`.
fn video(n: u64, title: &str, owner: &str, visibility: Visibility) -> VideoView {
    VideoView {
        description: format!("the description of {title}, with more words about it"),
        tags: vec![
            "nature".into(),
            title.split(' ').next().unwrap_or("x").into(),
        ],
        visibility,
        ..crate::tests::video(n, title, owner)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_search_on_a_real_index_answers_or_refuses_the_cursor_never_fails() {
    let dir = tempfile::tempdir().unwrap();
    let c = crate::tests::ready(&crate::tests::settings(dir.path()));
    let titles = [
        "Mountain biking in Wales",
        "Aquarium tour",
        "Secret mountain plans",
        "Crème brûlée at home",
        "東京の夜",
        "a b c d e f",
        "Mountains, mountaineers and mountainous mountain passes",
    ];
    for n in 0..60u64 {
        let title = titles[n as usize % titles.len()];
        let owner = ["alice", "bob", "carol"][n as usize % 3];
        let visibility = if n % 5 == 0 {
            Visibility::Private
        } else {
            Visibility::Public
        };
        c.apply(Change::Video(Box::new(video(n, title, owner, visibility))));
    }
    c.commit().await;
    // Real cursors to start from, besides made-up ones.
    let mut real = Vec::new();
    for sort in [Sort::Relevance, Sort::Newest, Sort::Views] {
        for q in ["", "mountain"] {
            let page = c
                .search(
                    &Search {
                        q: q.into(),
                        sort,
                        limit: 3,
                        ..Default::default()
                    },
                    Scope::Public,
                )
                .unwrap();
            real.extend(page.next_cursor);
        }
    }
    assert!(!real.is_empty());
    let cursor = prop_oneof![
        2 => Just(None),
        1 => prop::sample::select(real).prop_map(Some),
        1 => cursor_text().prop_map(Some),
    ];
    let sort = prop::sample::select(vec![Sort::Relevance, Sort::Newest, Sort::Views]);
    let scope = prop::sample::select(vec![
        Scope::Public,
        Scope::Admin,
        Scope::User(Uuid::from_u128(1005)),
    ]);
    // Short queries here (the words of long ones are the test above's): each word may build
    // typo automata, which unoptimised tantivy makes slow to search 10,000 times.
    let short = prop_oneof![
        "[\\PC]{0,16}",
        "(mountain|mountian|aquarium|wales|a|é|[a-z]{1,9})([ :\"*~()+-]{1,2}[a-z]{0,7}){0,2}[ ]?",
    ];
    let mut runner = TestRunner::new(config());
    let result = tokio::task::block_in_place(|| {
        runner.run(
            &(short, cursor, sort, 1usize..=100, scope),
            |(q, cur, sort, limit, scope)| {
                let s = Search {
                    q,
                    sort,
                    limit,
                    cursor: cur.as_deref().and_then(Cursor::decode),
                    ..Default::default()
                };
                match c.search(&s, scope) {
                    Ok(page) => prop_assert!(page.hits.len() <= limit),
                    // The index itself failing (the API's 503) is never the answer to input.
                    Err(CatalogueError::Index(e)) => {
                        return Err(TestCaseError::fail(format!("{s:?}: index error {e}")))
                    }
                    // A refused cursor or query: a 4xx in the API.
                    Err(_) => {}
                }
                Ok(())
            },
        )
    });
    result.unwrap();
}
