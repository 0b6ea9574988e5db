//! One signing key for the whole cluster, with no hand copying: real troupe processes on a real
//! moto_server bucket, with no key configured. The first node creates the keyring in the
//! bucket, sealed with the cluster cookie; every token opens every node; `troupe keys rotate`
//! adds a key that new tokens carry while old tokens keep working, across a restart; a node
//! with the wrong cookie cannot unseal the keys and refuses to start; and a one-node
//! deployment's refresh token keeps working after `troupe migrate`.

use crate::cluster::{node_options, Cluster, Spec, COOKIE};
use crate::harness::*;
use crate::s3::Moto;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

/// No configured key (an empty `auth.jwt_secret` is none), and a keyring reloaded every second.
fn unconfigured() -> Vec<(&'static str, String)> {
    vec![
        ("TROUPE__AUTH__JWT_SECRET", String::new()),
        ("TROUPE__AUTH__KEYRING_REFRESH_SECS", "1".into()),
    ]
}

/// The `kid` in a JWT's header.
fn kid(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    let h: Value = serde_json::from_slice(&raw).unwrap();
    h["kid"].as_str().expect("tokens carry a kid").to_owned()
}

async fn me(app: &TestApp, token: &str) -> StatusCode {
    app.get("/api/v1/users/me", Some(token)).await.status()
}

/// Runs `troupe keys rotate` against the cluster's bucket, with `cookie`.
fn rotate(moto: &Moto, cookie: &str) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_troupe"));
    cmd.args(["keys", "rotate"]);
    for (k, v) in crate::s3::s3_options(moto, "troupe").env {
        cmd.env(k, v);
    }
    cmd.env("TROUPE__CLUSTER__COOKIE", cookie)
        .env("TROUPE__AUTH__KEYRING_REFRESH_SECS", "1")
        .env_remove("TROUPE__AUTH__JWT_SECRET");
    cmd.output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_with_no_key_configured_share_one_and_rotate_it_without_refusing_old_tokens() {
    let mut c = Cluster::start_with_env(
        Spec {
            nodes: 3,
            proxied: false,
        },
        &unconfigured(),
    )
    .await;
    c.nodes[0].register("ada").await;
    // A token from each node opens every node.
    let mut old = Vec::new();
    for n in 0..3 {
        old.push(
            c.nodes[n].login("ada").await["access_token"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let first = kid(&old[0]);
    for (i, token) in old.iter().enumerate() {
        assert_eq!(kid(token), first, "every node signs with the bucket's key");
        for n in 0..3 {
            assert_eq!(
                me(&c.nodes[n], token).await,
                StatusCode::OK,
                "token of node{i} on node{n}"
            );
        }
    }
    // The bucket holds the keyring sealed: the secret is not in it.
    assert!(c
        .moto
        .keys("troupe")
        .await
        .contains(&"keys/jwt-keyring".to_string()));

    // A token whose kid no keyring holds is refused (401), not a 500.
    let forged = {
        let (h, rest) = old[0].split_once('.').unwrap();
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(h)
            .unwrap();
        let mut header: Value = serde_json::from_slice(&raw).unwrap();
        header["kid"] = json!("no-such-key");
        let h = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&header).unwrap());
        format!("{h}.{rest}")
    };
    problem(
        c.nodes[1].get("/api/v1/users/me", Some(&forged)).await,
        401,
        "invalid_token",
    )
    .await;

    // Rotate: new tokens carry the new key once every node has loaded it (it activates 2 s
    // after the rotation here; each node polls the bucket every second).
    let out = rotate(&c.moto, COOKIE);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let second = stdout
        .split_whitespace()
        .nth(3)
        .unwrap()
        .trim_end_matches(':')
        .to_owned();
    assert_ne!(second, first, "{stdout}");
    // Each node signs with the new key once it has loaded it and its activation time has come:
    // log in on each until its token carries the new kid (a bound with room for a loaded
    // machine, not a speed promise).
    let mut new = Vec::new();
    for n in 0..3 {
        let t = eventually(Duration::from_secs(30), || async {
            let t = c.nodes[n].login("ada").await["access_token"]
                .as_str()
                .unwrap()
                .to_owned();
            (kid(&t) == second).then_some(t)
        })
        .await;
        assert_eq!(kid(&t), second, "node{n} signs with the new key");
        new.push(t);
    }
    for n in 0..3 {
        for t in old.iter().chain(&new) {
            assert_eq!(me(&c.nodes[n], t).await, StatusCode::OK, "node{n}");
        }
    }
    // A restarted node (on a fresh data dir: everything it knows comes from the bucket) keeps
    // both keys.
    assert!(c.nodes[2].terminate_wait_after_sigterm().await.success());
    c.restart(2).await;
    for t in old.iter().chain(&new) {
        assert_eq!(me(&c.nodes[2], t).await, StatusCode::OK);
    }
    let t = c.nodes[2].login("ada").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(kid(&t), second);

    // A node with another cookie cannot unseal the keys: it refuses to start, and says why.
    let addr = format!("127.0.0.1:{}", crate::cluster::free_port());
    let mut o = node_options(
        &c.moto,
        "troupe",
        "intruder",
        &addr,
        &c.addrs,
        crate::cluster::OTHER_COOKIE,
    );
    for (k, v) in unconfigured() {
        o = o.env(k, v);
    }
    let tmp = tempfile::tempdir().unwrap();
    let (status, log) = TestApp::start(&tmp.path().join("d"), o)
        .await
        .err()
        .expect("it must not start");
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{log}");
    assert!(
        log.contains("cannot unseal the cluster's signing keys"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_one_node_refresh_token_keeps_working_in_the_cluster_after_migrate() {
    let moto = Moto::start().await;
    moto.create_bucket("grown").await;
    let mut single = TestApp::spawn(Options {
        generated_secret: true,
        ..Options::default()
    })
    .await;
    single.register("founder").await;
    let pair = single.login("founder").await;
    let refresh = pair["refresh_token"].as_str().unwrap().to_owned();
    let access = pair["access_token"].as_str().unwrap().to_owned();
    let data_dir = single.data_dir.clone();
    assert!(single.terminate_wait_after_sigterm().await.success());

    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_troupe"));
    cmd.args(["migrate", "--data-dir"])
        .arg(&data_dir)
        .args(["--to", "s3://grown"]);
    for (k, v) in crate::s3::s3_options(&moto, "grown").env {
        cmd.env(k, v);
    }
    cmd.env("TROUPE__CLUSTER__COOKIE", COOKIE)
        .env_remove("TROUPE__AUTH__JWT_SECRET");
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("signing key is in the cluster's keyring"),
        "{out:?}"
    );

    // A cluster node on the bucket, with no key configured, honours the one-node tokens.
    let node = crate::cluster::spawn_node(|addr| {
        let mut o = node_options(&moto, "grown", "node0", addr, &[addr.to_owned()], COOKIE);
        for (k, v) in unconfigured() {
            o = o.env(k, v);
        }
        o
    })
    .await;
    assert_eq!(me(&node, &access).await, StatusCode::OK);
    let r = node
        .post("/api/v1/auth/refresh", json!({"refresh_token": refresh}))
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let renewed: Value = r.json().await.unwrap();
    assert_eq!(
        me(&node, renewed["access_token"].as_str().unwrap()).await,
        StatusCode::OK
    );
}
