//! What the console's watch page and lists need from the video JSON: the caller's own rating
//! (so that it shows after a reload), and posters of private videos behind short-lived signed
//! URLs that a plain `<img>` can load, for those who may see the video and nobody else.

use crate::harness::*;
use crate::media::{media_options, new_video, ready_video};
use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn rate(app: &TestApp, token: &str, id: &str, rating: &str) {
    let r = app
        .request(
            Method::PUT,
            &format!("/api/v1/videos/{id}/rating"),
            Some(token),
            Some(json!({ "rating": rating })),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
}

async fn video(app: &TestApp, token: Option<&str>, id: &str) -> Value {
    let r = app.get(&format!("/api/v1/videos/{id}"), token).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

#[tokio::test]
async fn a_signed_in_caller_reads_their_own_rating_with_the_video() {
    let app = TestApp::spawn(Options::default()).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let v = new_video(&app, &alice, "Rated", "public").await;
    let id = v["id"].as_str().unwrap();

    // Not rated yet: `none`, for the owner as for anyone signed in.
    assert_eq!(video(&app, Some(&bob), id).await["my_rating"], "none");
    assert_eq!(video(&app, Some(&alice), id).await["my_rating"], "none");

    rate(&app, &bob, id, "like").await;
    let seen = video(&app, Some(&bob), id).await;
    assert_eq!(seen["my_rating"], "like", "{seen}");
    assert_eq!(seen["counts"]["likes"], 1, "{seen}");
    // Bob's rating is his: alice sees hers, an anonymous caller none at all.
    assert_eq!(video(&app, Some(&alice), id).await["my_rating"], "none");
    let anonymous = video(&app, None, id).await;
    assert!(anonymous.get("my_rating").is_none(), "{anonymous}");
    assert_eq!(anonymous["counts"]["likes"], 1);

    rate(&app, &alice, id, "dislike").await;
    rate(&app, &bob, id, "dislike").await;
    assert_eq!(video(&app, Some(&bob), id).await["my_rating"], "dislike");
    assert_eq!(video(&app, Some(&alice), id).await["my_rating"], "dislike");
    rate(&app, &bob, id, "none").await;
    let seen = video(&app, Some(&bob), id).await;
    assert_eq!(seen["my_rating"], "none", "{seen}");
    assert_eq!(
        (&seen["counts"]["likes"], &seen["counts"]["dislikes"]),
        (&json!(0), &json!(1))
    );

    // It is durable: after a kill -9, the restarted server still knows it.
    rate(&app, &bob, id, "like").await;
    let mut app = app;
    app.kill9();
    let app = app.restart().await;
    let bob = app.login_token("bob").await;
    assert_eq!(video(&app, Some(&bob), id).await["my_rating"], "like");
}

/// A poster token for `video`, signed with the test server's secret (as the server would sign
/// one, but with the claims the test chooses).
fn forge_poster(video: &str, aud: &str, exp_in: i64) -> String {
    use hmac::Mac;
    let now = chrono::Utc::now().timestamp();
    let enc = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    };
    let head = enc(&json!({"alg": "HS256", "typ": "JWT"}));
    let claims = enc(
        &json!({"iss": "troupe", "aud": aud, "sub": "x", "vid": video, "cap": 480, "iat": now - 7200, "exp": now + exp_in}),
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{head}.{claims}").as_bytes());
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{head}.{claims}.{sig}")
}

async fn jpeg(r: reqwest::Response) {
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert!(r.headers()["cache-control"]
        .to_str()
        .unwrap()
        .starts_with("private"));
    assert_eq!(&r.bytes().await.unwrap()[..2], &[0xFF, 0xD8]);
}

#[tokio::test]
async fn a_private_posters_signed_url_opens_it_without_a_token_for_its_owner_only() {
    let tmp = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(media_options()).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let private = ready_video(&app, &alice, tmp.path(), 320, 240, 2, "private").await;
    let public = ready_video(&app, &bob, tmp.path(), 320, 240, 2, "public").await;
    let id = private["id"].as_str().unwrap();
    let plain = format!("/api/v1/videos/{id}/thumbnail.jpg");

    // The owner's video JSON names a signed URL, which an <img> (no Authorization) loads.
    let signed = video(&app, Some(&alice), id).await["thumbnail_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(signed.starts_with(&format!("{plain}?token=")), "{signed}");
    jpeg(app.get(&signed, None).await).await;
    // Within a signing window, every answer names the same URL (so browsers cache the image):
    // the list of her videos too.
    let listed: Value = app
        .listed("/api/v1/videos?owner=alice", Some(&alice), |v: &Value| {
            v["items"].as_array().is_some_and(|i| i.len() == 1)
        })
        .await;
    let in_list = listed["items"][0]["thumbnail_url"].as_str().unwrap();
    let token = |u: &str| u.split_once("?token=").unwrap().1.to_owned();
    // (Unless the window turned between the two reads: then both still open the poster.)
    if in_list != signed {
        jpeg(app.get(in_list, None).await).await;
    }
    assert!(token(in_list).len() > 40);

    // A public video's poster needs no signature.
    assert_eq!(
        public["thumbnail_url"],
        format!(
            "/api/v1/videos/{}/thumbnail.jpg",
            public["id"].as_str().unwrap()
        )
    );

    // Nobody else learns of it, or gets it without the signature.
    problem(
        app.get(&format!("/api/v1/videos/{id}"), Some(&bob)).await,
        404,
        "video_not_found",
    )
    .await;
    problem(app.get(&plain, None).await, 404, "video_not_found").await;
    problem(app.get(&plain, Some(&bob)).await, 404, "video_not_found").await;
    let bobs_list: Value = app
        .get("/api/v1/videos?owner=alice", Some(&bob))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bobs_list["items"], json!([]), "{bobs_list}");

    // A tampered signature, one for another video, a playback token, an expired one.
    let good = token(&signed);
    let mut tampered = good.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let other = public["id"].as_str().unwrap();
    for (what, t, code) in [
        ("tampered", tampered, "invalid_poster_token"),
        ("garbage", "not-a-token".to_owned(), "invalid_poster_token"),
        (
            "another video's",
            forge_poster(other, "troupe-api/poster", 600),
            "invalid_poster_token",
        ),
        (
            "a playback token",
            forge_poster(id, "troupe-api/playback", 600),
            "invalid_poster_token",
        ),
        (
            "expired",
            forge_poster(id, "troupe-api/poster", -1),
            "poster_token_expired",
        ),
    ] {
        let r = app.get(&format!("{plain}?token={t}"), None).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{what}");
        problem(r, 403, code).await;
    }
    // The signature of this video opens this video's poster and no other.
    problem(
        app.get(
            &format!("/api/v1/videos/{other}/thumbnail.jpg?token={good}"),
            None,
        )
        .await,
        403,
        "invalid_poster_token",
    )
    .await;
    // One the server would sign, good for a minute more, opens it.
    jpeg(
        app.get(
            &format!(
                "{plain}?token={}",
                forge_poster(id, "troupe-api/poster", 60)
            ),
            None,
        )
        .await,
    )
    .await;

    // Deleted, the signed URL opens nothing.
    app.delete_video(&alice, id).await;
    problem(app.get(&signed, None).await, 404, "video_not_found").await;
}
