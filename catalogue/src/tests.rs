use super::*;
use chrono::{TimeZone, Utc};
use troupe_actors::events::{VideoStatus, Visibility};

pub(crate) fn settings(dir: &Path) -> Settings {
    Settings {
        dir: dir.to_path_buf(),
        commit_interval: Duration::from_millis(20),
        writer_memory: 15_000_000,
        trending_cache: Duration::ZERO,
        cursor_ttl: Duration::from_secs(600),
        cursor_rankings: 8,
        journal: false,
    }
}

/// A catalogue opened in `settings`' directory and marked ready.
pub(crate) fn ready(settings: &Settings) -> Catalogue {
    let (c, _) = Catalogue::open(settings).unwrap();
    c.set_ready();
    c
}

/// A ready, public video `n` (its id and creation time follow `n`) titled `title`.
pub(crate) fn video(n: u64, title: &str, owner: &str) -> VideoView {
    VideoView {
        id: Uuid::from_u128(u128::from(n) + 1),
        owner: owner.into(),
        owner_id: Uuid::from_u128(owner.len() as u128 + 1000),
        channel_id: Uuid::from_u128(owner.len() as u128 + 1000),
        channel: owner.to_lowercase(),
        title: title.into(),
        description: format!("the description of {title}"),
        tags: vec!["nature".into()],
        visibility: Visibility::Public,
        state: VideoStatus::Ready,
        progress: 100.0,
        failure_reason: None,
        renditions: vec![],
        duration_secs: Some(60.0 + n as f64),
        has_poster: false,
        upload_id: None,
        created_at: Utc
            .timestamp_millis_opt(1_700_000_000_000 + n as i64 * 1000)
            .unwrap(),
        updated_at: Utc::now(),
        version: 1,
        hidden: None,
    }
}

/// Applies videos `ns`, each titled `<word> <n>`, owned by `owner` (not committed).
fn add_numbered(c: &Catalogue, ns: std::ops::Range<u64>, word: &str, owner: &str) {
    for n in ns {
        c.apply(Change::Video(Box::new(video(
            n,
            &format!("{word} {n}"),
            owner,
        ))));
    }
}

fn titles_of(c: &Catalogue, p: &Page) -> Vec<String> {
    p.hits
        .iter()
        .map(|h| c.stored_video(h.id).expect("stored").title)
        .collect()
}

fn find(c: &Catalogue, q: &str, scope: Scope) -> Vec<String> {
    titles_of(
        c,
        &c.search(
            &Search {
                q: q.into(),
                limit: 10,
                ..Default::default()
            },
            scope,
        )
        .unwrap(),
    )
}

#[tokio::test]
async fn typos_prefixes_and_visibility_scopes() {
    let dir = tempfile::tempdir().unwrap();
    let (c, fresh) = Catalogue::open(&settings(dir.path())).unwrap();
    assert!(fresh);
    c.set_ready();
    c.apply(Change::Video(Box::new(video(
        1,
        "Mountain biking in Wales",
        "alice",
    ))));
    c.apply(Change::Video(Box::new(video(2, "Aquarium tour", "bob"))));
    let mut secret = video(3, "Secret mountain plans", "alice");
    secret.visibility = Visibility::Private;
    c.apply(Change::Video(Box::new(secret.clone())));
    c.commit().await;
    assert_eq!(
        find(&c, "mountain", Scope::Public),
        ["Mountain biking in Wales"]
    );
    assert_eq!(
        find(&c, "mountian", Scope::Public),
        ["Mountain biking in Wales"],
        "one typo"
    );
    assert_eq!(
        find(&c, "aquaruim", Scope::Public),
        ["Aquarium tour"],
        "a swap"
    );
    assert_eq!(
        find(&c, "aqua", Scope::Public),
        ["Aquarium tour"],
        "a prefix"
    );
    assert!(
        find(&c, "aqua ", Scope::Public).is_empty(),
        "a finished word is not a prefix"
    );
    assert!(find(&c, "secret", Scope::Public).is_empty());
    assert!(find(&c, "secret", Scope::User(Uuid::from_u128(999))).is_empty());
    assert_eq!(
        find(&c, "secret", Scope::User(secret.owner_id)),
        ["Secret mountain plans"]
    );
    assert_eq!(find(&c, "secret", Scope::Admin), ["Secret mountain plans"]);
    for q in [
        "\"mountain",
        "mountain:",
        "mount*",
        "(mountain)",
        "-mountain",
        "mountain~",
    ] {
        assert_eq!(
            find(&c, q, Scope::Public),
            ["Mountain biking in Wales"],
            "{q}"
        );
    }
}

#[tokio::test]
async fn older_changes_never_win_and_deleted_videos_stay_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let c = ready(&settings(dir.path()));
    let mut v = video(1, "First title", "alice");
    v.version = 5;
    c.apply(Change::Video(Box::new(v.clone())));
    c.commit().await;
    let mut old = v.clone();
    old.version = 4;
    old.title = "Older title".into();
    c.apply(Change::Video(Box::new(old)));
    c.apply(Change::Counts(
        v.id,
        Counts {
            views: 7,
            likes: 2,
            dislikes: 0,
        },
    ));
    c.commit().await;
    let p = c
        .search(
            &Search {
                limit: 10,
                ..Default::default()
            },
            Scope::Public,
        )
        .unwrap();
    assert_eq!(titles_of(&c, &p), ["First title"]);
    assert_eq!(p.hits[0].counts.views, 7);
    c.apply(Change::Deleted(v.id));
    c.commit().await;
    let mut newer = v.clone();
    newer.version = 9;
    c.apply(Change::Video(Box::new(newer)));
    c.commit().await;
    assert!(find(&c, "first", Scope::Admin).is_empty());
    assert_eq!(c.indexed(v.id).map(|(ver, _)| ver), Some(u64::MAX));
}

#[tokio::test]
async fn newest_first_pages_are_stable_while_videos_are_added() {
    let dir = tempfile::tempdir().unwrap();
    let c = ready(&settings(dir.path()));
    add_numbered(&c, 0..50, "video", "alice");
    c.commit().await;
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut added = 100;
    loop {
        let p = c
            .search(
                &Search {
                    limit: 7,
                    cursor,
                    ..Default::default()
                },
                Scope::Public,
            )
            .unwrap();
        seen.extend(titles_of(&c, &p));
        // Newer videos arrive between pages: they must not shift what follows.
        c.apply(Change::Video(Box::new(video(added, "late", "bob"))));
        added += 1;
        c.commit().await;
        match p.next_cursor {
            Some(n) => cursor = Some(Cursor::decode(&n).unwrap()),
            None => break,
        }
    }
    let want: Vec<String> = (0..50).rev().map(|n| format!("video {n}")).collect();
    assert_eq!(seen, want);
}

#[tokio::test]
async fn filters_and_sorts() {
    let dir = tempfile::tempdir().unwrap();
    let c = ready(&settings(dir.path()));
    for n in 0..10 {
        let mut v = video(
            n,
            &format!("clip {n}"),
            if n % 2 == 0 { "even" } else { "odd" },
        );
        if n == 3 {
            v.tags = vec!["Cats".into()];
        }
        if n == 9 {
            v.duration_secs = None; // not processed yet
        }
        c.apply(Change::Video(Box::new(v.clone())));
        c.apply(Change::Counts(
            v.id,
            Counts {
                views: (n * 7) % 10,
                likes: 0,
                dislikes: 0,
            },
        ));
    }
    c.commit().await;
    let run = |s: Search| {
        titles_of(
            &c,
            &c.search(&Search { limit: 20, ..s }, Scope::Public).unwrap(),
        )
    };
    assert_eq!(
        run(Search {
            tag: Some("cats".into()),
            ..Default::default()
        }),
        ["clip 3"]
    );
    assert_eq!(
        run(Search {
            owner: Some("ODD".into()),
            ..Default::default()
        })
        .len(),
        5
    );
    assert_eq!(
        run(Search {
            duration_ms: (Some(62_000), Some(63_000)),
            ..Default::default()
        }),
        ["clip 3", "clip 2"]
    );
    let by_views = run(Search {
        sort: Sort::Views,
        ..Default::default()
    });
    assert_eq!(by_views[0], "clip 7", "{by_views:?}"); // 49 % 10 = 9 views
    let created = 1_700_000_000_000u64;
    assert_eq!(
        run(Search {
            created_ms: (Some(created + 8000), None),
            ..Default::default()
        }),
        ["clip 9", "clip 8"]
    );
}

#[tokio::test]
async fn a_reopened_index_keeps_what_was_committed_and_a_corrupt_one_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    {
        let c = ready(&settings(dir.path()));
        c.apply(Change::Video(Box::new(video(1, "kept", "alice"))));
        c.commit().await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (c, fresh) = Catalogue::open(&settings(dir.path())).unwrap();
    assert!(!fresh);
    assert_eq!(find(&c, "kept", Scope::Public), ["kept"]);
    drop(c);
    tokio::time::sleep(Duration::from_millis(100)).await;
    std::fs::write(dir.path().join("meta.json"), b"{ not json").unwrap();
    let (c, fresh) = Catalogue::open(&settings(dir.path())).unwrap();
    assert!(fresh, "a corrupt index is rebuilt");
    assert!(matches!(
        c.search(&Search::default(), Scope::Public),
        Err(CatalogueError::Rebuilding(_))
    ));
}

#[tokio::test]
async fn ranked_pages_skip_what_the_scope_hides_and_the_word_as_typed_ranks_above_completions() {
    let dir = tempfile::tempdir().unwrap();
    let c = ready(&settings(dir.path()));
    // 40 videos titled "harbor …", every third private; 20 more "harbormaster …" (a
    // completion of "harbor"), all public.
    for n in 0..40 {
        let mut v = video(n, &format!("harbor {n}"), "quay");
        if n % 3 == 0 {
            v.visibility = Visibility::Private;
        }
        c.apply(Change::Video(Box::new(v)));
    }
    add_numbered(&c, 40..60, "harbormaster", "quay");
    c.commit().await;
    let page = |cursor: Option<Cursor>, scope: Scope| {
        c.search(
            &Search {
                q: "harbor".into(),
                limit: 7,
                cursor,
                ..Default::default()
            },
            scope,
        )
        .unwrap()
    };
    // Public: every listed match once, across pages, no private one.
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let p = page(cursor, Scope::Public);
        seen.extend(titles_of(&c, &p));
        match p.next_cursor {
            Some(next) => cursor = Cursor::decode(&next),
            None => break,
        }
    }
    let public_exact = (0..40).filter(|n| n % 3 != 0).count();
    assert_eq!(seen.len(), public_exact + 20, "{seen:?}");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "a title came twice: {seen:?}");
    assert!(seen.iter().all(|t| {
        let n: u64 = t.rsplit(' ').next().unwrap().parse().unwrap();
        n >= 40 || !n.is_multiple_of(3)
    }));
    // The word as typed ranks above its completions.
    let first = public_exact;
    assert!(
        seen[..first].iter().all(|t| t.starts_with("harbor ")),
        "{seen:?}"
    );
    // The owner sees their private ones too; an admin as well.
    let owner = video(0, "", "quay").owner_id;
    assert_eq!(titles_of(&c, &page(None, Scope::User(owner))).len(), 7);
    let all = c
        .search(
            &Search {
                q: "harbor".into(),
                limit: 100,
                ..Default::default()
            },
            Scope::User(owner),
        )
        .unwrap();
    assert_eq!(all.hits.len(), 60);
    let stranger = c
        .search(
            &Search {
                q: "harbor".into(),
                limit: 100,
                ..Default::default()
            },
            Scope::User(Uuid::from_u128(4242)),
        )
        .unwrap();
    assert_eq!(stranger.hits.len(), public_exact + 20);
}

/// A catalogue that commits only when asked (so batches stay uncommitted between them).
fn settings_no_tick(dir: &Path, cursor_ttl: Duration) -> Settings {
    Settings {
        commit_interval: Duration::from_secs(3600),
        cursor_ttl,
        ..settings(dir)
    }
}

#[tokio::test]
async fn a_later_batch_never_replaces_a_newer_uncommitted_version() {
    let dir = tempfile::tempdir().unwrap();
    let c = ready(&settings_no_tick(dir.path(), Duration::from_secs(600)));
    let mut v = video(1, "Newest title", "alice");
    v.version = 5;
    // Each batch is written at once, none committed between them: the second must be
    // compared with the first, not with the (empty) last commit.
    c.apply_batch(vec![Change::Video(Box::new(v.clone()))])
        .await;
    let mut old = v.clone();
    old.version = 4;
    old.title = "Older title".into();
    c.apply_batch(vec![Change::Video(Box::new(old))]).await;
    // Counts alone keep the newest uncommitted video, not an older stored copy.
    let counts = Counts {
        views: 3,
        likes: 1,
        dislikes: 0,
    };
    c.apply_batch(vec![Change::Counts(v.id, counts)]).await;
    // A deletion written but not committed is not undone by a later batch either.
    let gone = video(2, "Deleted title", "alice");
    c.apply_batch(vec![Change::Video(Box::new(gone.clone()))])
        .await;
    c.commit().await;
    c.apply_batch(vec![Change::Deleted(gone.id)]).await;
    let mut late = gone.clone();
    late.version = 9;
    c.apply_batch(vec![Change::Video(Box::new(late))]).await;
    c.commit().await;
    assert_eq!(c.indexed(v.id), Some((5, counts)));
    assert_eq!(c.stored_video(v.id).unwrap().title, "Newest title");
    assert_eq!(c.indexed(gone.id).map(|(ver, _)| ver), Some(u64::MAX));
    assert!(find(&c, "deleted", Scope::Admin).is_empty());
}

/// Pages through `q` by relevance with `limit`, from `cursor`; the titles and next cursor.
fn ranked(
    c: &Catalogue,
    q: &str,
    cursor: Option<&str>,
    scope: Scope,
) -> Result<(Vec<String>, Option<String>), CatalogueError> {
    let p = c.search(
        &Search {
            q: q.into(),
            limit: 10,
            cursor: cursor.map(|s| Cursor::decode(s).expect("a cursor")),
            ..Default::default()
        },
        scope,
    )?;
    Ok((titles_of(c, &p), p.next_cursor))
}

#[tokio::test]
async fn a_ranked_cursor_gives_the_next_page_of_its_ranking_or_expires() {
    let dir = tempfile::tempdir().unwrap();
    let c = ready(&settings(dir.path()));
    add_numbered(&c, 0..30, "harbor", "quay");
    c.commit().await;
    let whole = ranked(&c, "harbor", None, Scope::Public).unwrap();
    let all: Vec<String> = {
        let p = c
            .search(
                &Search {
                    q: "harbor".into(),
                    limit: 30,
                    ..Default::default()
                },
                Scope::Public,
            )
            .unwrap();
        titles_of(&c, &p)
    };
    assert_eq!(whole.0, all[..10]);
    // Commits, each searched by someone else, and better matches arrive: the cursor still
    // pages through the ranking it was made on (6 other rankings: fewer than the 8 kept).
    for n in 100..106 {
        add_numbered(&c, n..n + 1, "harbor harbor", "quay");
        c.commit().await;
        let _ = ranked(&c, "harbor", None, Scope::Public).unwrap();
    }
    let second = ranked(&c, "harbor", whole.1.as_deref(), Scope::Public).unwrap();
    assert_eq!(second.0, all[10..20]);
    let third = ranked(&c, "harbor", second.1.as_deref(), Scope::Public).unwrap();
    assert_eq!(third.0, all[20..30]);
    // Another query's cursor, or another caller's, is refused.
    let next = second.1.as_deref();
    assert!(matches!(
        ranked(&c, "harbour", next, Scope::Public),
        Err(CatalogueError::CursorMismatch)
    ));
    assert!(matches!(
        ranked(&c, "harbor", next, Scope::Admin),
        Err(CatalogueError::CursorMismatch)
    ));
    // Another instance's (a restart, another node) has expired.
    let Some(Cursor::Offset {
        instance,
        generation,
        offset,
        query,
    }) = next.and_then(Cursor::decode)
    else {
        panic!("a ranked cursor");
    };
    let foreign = Cursor::Offset {
        instance: instance.wrapping_add(1),
        generation,
        offset,
        query,
    }
    .encode();
    assert!(matches!(
        ranked(&c, "harbor", Some(&foreign), Scope::Public),
        Err(CatalogueError::CursorExpired)
    ));
    // Past 8 other rankings, the least recently paged one is dropped: its cursor expires
    // rather than continuing on another ranking.
    let stale = ranked(&c, "harbor", None, Scope::Public)
        .unwrap()
        .1
        .unwrap();
    for n in 400..410 {
        add_numbered(&c, n..n + 1, "harbor", "quay");
        c.commit().await;
        let _ = ranked(&c, "harbor", None, Scope::Public).unwrap();
    }
    assert!(matches!(
        ranked(&c, "harbor", Some(&stale), Scope::Public),
        Err(CatalogueError::CursorExpired)
    ));
}

#[tokio::test]
async fn a_ranked_cursor_expires_after_its_lifetime() {
    let dir = tempfile::tempdir().unwrap();
    let ttl = Duration::from_millis(300);
    let c = ready(&settings_no_tick(dir.path(), ttl));
    add_numbered(&c, 0..30, "harbor", "quay");
    c.commit().await;
    let first = ranked(&c, "harbor", None, Scope::Public).unwrap();
    let second = ranked(&c, "harbor", first.1.as_deref(), Scope::Public).unwrap();
    tokio::time::sleep(ttl * 2).await;
    assert!(matches!(
        ranked(&c, "harbor", second.1.as_deref(), Scope::Public),
        Err(CatalogueError::CursorExpired)
    ));
    // A newest-first cursor never expires.
    let newest = |cursor: Option<Cursor>| {
        c.search(
            &Search {
                limit: 10,
                cursor,
                ..Default::default()
            },
            Scope::Public,
        )
        .unwrap()
    };
    let p = newest(None);
    tokio::time::sleep(ttl * 2).await;
    assert_eq!(
        newest(p.next_cursor.as_deref().and_then(Cursor::decode))
            .hits
            .len(),
        10
    );
}

#[tokio::test]
async fn a_query_holds_at_most_max_words() {
    let dir = tempfile::tempdir().unwrap();
    let c = ready(&settings(dir.path()));
    c.apply(Change::Video(Box::new(video(1, "harbor lights", "quay"))));
    c.commit().await;
    // Words past MAX_WORDS are not searched (the HTTP layer refuses such a query first).
    let q = format!("harbor {}", "lights ".repeat(search::MAX_WORDS - 1));
    assert_eq!(find(&c, &q, Scope::Public), ["harbor lights"]);
    let beyond = format!("{q} nowhere");
    assert_eq!(find(&c, &beyond, Scope::Public), ["harbor lights"]);
}

/// What a model listing keeps of the videos its scope may see.
type Keep<'a> = Box<dyn Fn(&VideoView) -> bool + 'a>;

/// Every newest-first listing gives exactly what its scope may see, newest first, page after
/// page: the latest videos (walked in order-key order across segments) and the filtered ones
/// (searched, the scope checked while collecting), with documents replaced and deleted in
/// older segments, and the walk's fall-back when the newest thousands are all private.
#[tokio::test]
async fn newest_first_listings_match_a_model_in_every_scope() {
    use std::collections::HashMap;
    let dir = tempfile::tempdir().unwrap();
    let c = ready(&settings(dir.path()));
    // Owner ids follow the name's length: three lengths, three owners.
    let owners = ["al", "bob", "carol"];
    let mut model: HashMap<Uuid, VideoView> = HashMap::new();
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut rand = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut n = 0;
    let apply = |c: &Catalogue, model: &mut HashMap<Uuid, VideoView>, v: VideoView| {
        model.insert(v.id, v.clone());
        c.apply(Change::Video(Box::new(v)));
    };
    for _round in 0..5 {
        for _ in 0..300 {
            let mut v = video(n, &format!("clip {n}"), owners[rand(3) as usize]);
            n += 1;
            v.visibility = [
                Visibility::Public,
                Visibility::Unlisted,
                Visibility::Private,
            ][rand(3) as usize];
            if rand(5) == 0 {
                v.state = VideoStatus::Processing;
            }
            apply(&c, &mut model, v);
        }
        // Edits and deletes of videos in older segments.
        let ids: Vec<Uuid> = model.keys().copied().collect();
        for _ in 0..60 {
            let id = ids[rand(ids.len() as u64) as usize];
            let Some(mut v) = model.get(&id).cloned() else {
                continue;
            };
            if rand(3) == 0 {
                model.remove(&id);
                c.apply(Change::Deleted(id));
            } else {
                v.version += 1;
                v.visibility = [Visibility::Public, Visibility::Private][rand(2) as usize];
                apply(&c, &mut model, v);
            }
        }
        c.commit().await;
    }
    let check = |c: &Catalogue, model: &HashMap<Uuid, VideoView>, what: &str| {
        let me = video(0, "", "bob").owner_id;
        let carol = video(0, "", "carol").channel_id;
        for scope in [Scope::Public, Scope::User(me), Scope::Admin] {
            let allowed = |v: &VideoView| match scope {
                Scope::Public => schema::listed(v),
                Scope::User(me) => schema::listed(v) || v.owner_id == me,
                Scope::Admin => true,
            };
            let searches: [(&str, Search, Keep<'_>); 3] = [
                ("latest", Search::default(), Box::new(|_| true)),
                (
                    "owner",
                    Search {
                        owner: Some("Bob".into()),
                        ..Default::default()
                    },
                    Box::new(|v| v.owner == "bob"),
                ),
                (
                    "channel, not watched",
                    Search {
                        channels: Some(vec![carol]),
                        exclude: model.keys().take(40).copied().collect(),
                        ..Default::default()
                    },
                    Box::new(|v| v.channel_id == carol),
                ),
            ];
            for (name, s, keep) in searches {
                let mut want: Vec<&VideoView> = model
                    .values()
                    .filter(|v| allowed(v) && keep(v) && !s.exclude.contains(&v.id))
                    .collect();
                want.sort_by_key(|v| std::cmp::Reverse(v.created_at));
                let want: Vec<Uuid> = want.iter().map(|v| v.id).collect();
                let mut got = Vec::new();
                let mut cursor = None;
                loop {
                    let p = c
                        .search(
                            &Search {
                                limit: 37,
                                cursor,
                                ..s.clone()
                            },
                            scope,
                        )
                        .unwrap();
                    got.extend(p.hits.iter().map(|h| h.id));
                    match p.next_cursor {
                        Some(n) => cursor = Some(Cursor::decode(&n).unwrap()),
                        None => break,
                    }
                }
                assert_eq!(got.len(), want.len(), "{what}, {name}, {scope:?}");
                assert!(got == want, "{what}, {name}, {scope:?}: another order");
            }
        }
    };
    check(&c, &model, "mixed");
    // The newest 5,000 are private: the public walk refuses more than it may in a row and
    // searches instead; the owner's own listing still walks.
    for _ in 0..5000 {
        let mut v = video(n, &format!("secret {n}"), "al");
        n += 1;
        v.visibility = Visibility::Private;
        apply(&c, &mut model, v);
    }
    const { assert!(5000 > search::WALK_MAX) };
    c.commit().await;
    check(&c, &model, "newest private");
}

/// Trending lists, most viewed first, only what the scope may see: a video made private
/// or deleted after its views leaves the public list at the next commit (its older
/// documents, replaced in other segments, never come back), its owner still sees it while it
/// exists.
#[tokio::test]
async fn trending_lists_only_what_the_scope_may_see_across_replaced_documents() {
    let dir = tempfile::tempdir().unwrap();
    let c = ready(&settings(dir.path()));
    let now = chrono::Utc::now().timestamp_millis();
    let hour = now / 3_600_000 * 3_600_000;
    let mut vids = Vec::new();
    for n in 0..30u64 {
        let v = video(n, &format!("trend {n}"), ["al", "bob"][n as usize % 2]);
        c.apply(Change::Video(Box::new(v.clone())));
        vids.push(v);
        // One commit per few videos: several segments.
        if n % 7 == 6 {
            c.commit().await;
        }
    }
    c.commit().await;
    for (n, v) in vids.iter().enumerate() {
        let views = 100 + n as u64;
        c.set_views(
            v.id,
            ViewBuckets {
                fine: vec![],
                coarse: vec![(hour, views)],
            },
            Counts {
                views,
                likes: 0,
                dislikes: 0,
            },
        );
    }
    let ids = |scope: Scope| -> Vec<Uuid> {
        c.trending(86_400_000, 10, scope)
            .unwrap()
            .iter()
            .map(|(t, _)| t.id)
            .collect()
    };
    let newest_ten: Vec<Uuid> = vids.iter().rev().take(10).map(|v| v.id).collect();
    assert_eq!(
        ids(Scope::Public),
        newest_ten,
        "the most viewed are the last made"
    );
    // The three most viewed change: private, deleted, retitled; each edit replaces the
    // document in a newer segment.
    let mut private = vids[29].clone();
    private.visibility = Visibility::Private;
    private.version += 1;
    c.apply(Change::Video(Box::new(private)));
    c.apply(Change::Deleted(vids[28].id));
    let mut edited = vids[27].clone();
    edited.title = "trend edited".into();
    edited.version += 1;
    c.apply(Change::Video(Box::new(edited)));
    c.commit().await;
    let public = ids(Scope::Public);
    let want: Vec<Uuid> = [27, 26, 25, 24, 23, 22, 21, 20, 19, 18]
        .iter()
        .map(|n| vids[*n].id)
        .collect();
    assert_eq!(
        public, want,
        "neither the private nor the deleted video, each once"
    );
    // Its owner sees the private video; the deleted one is gone for everyone.
    let owner = vids[29].owner_id;
    assert_eq!(ids(Scope::User(owner))[0], vids[29].id);
    assert!(!ids(Scope::User(vids[28].owner_id)).contains(&vids[28].id));
    assert_eq!(ids(Scope::Admin)[..2], [vids[29].id, vids[27].id]);
}
