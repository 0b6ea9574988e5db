//! The cluster links over TLS, with real processes: certificates made by the real
//! `troupe cluster certs`, a 3-node TLS cluster that serves, forwards and fails over, and
//! peers the TLS nodes must refuse (plain TCP, another CA, no certificate) on both links.

use crate::cluster::{free_port, node_options, Cluster, Spec, COOKIE};
use crate::failover::{accounts_owned_by, summary, time_to_answer};
use crate::harness::*;
use reqwest::StatusCode;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Runs `troupe cluster certs --out DIR --nodes NAMES` and checks that it succeeded.
pub(crate) fn certs(dir: &Path, nodes: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_troupe"))
        .args(["cluster", "certs", "--out"])
        .arg(dir)
        .args(["--nodes", nodes])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The settings that give node `name` its TLS files from `dir`.
pub(crate) fn tls_env(dir: &Path, name: &str) -> Vec<(String, String)> {
    let file = |f: String| dir.join(f).display().to_string();
    vec![
        ("TROUPE__CLUSTER__INSECURE".into(), "false".into()),
        ("TROUPE__CLUSTER__TLS_CA".into(), file("ca.pem".into())),
        (
            "TROUPE__CLUSTER__TLS_CERT".into(),
            file(format!("{name}.pem")),
        ),
        (
            "TROUPE__CLUSTER__TLS_KEY".into(),
            file(format!("{name}-key.pem")),
        ),
    ]
}

/// `n` nodes with certificates from a fresh CA in `dir`, and an admin's token, once every
/// node sees every node up.
pub(crate) async fn tls_cluster(n: usize, dir: &Path) -> (Cluster, String) {
    let names: Vec<String> = (0..n).map(|i| format!("node{i}")).collect();
    certs(dir, &names.join(","));
    let dir = dir.to_owned();
    let c = Cluster::start_with_node_env(
        Spec {
            nodes: n,
            proxied: false,
        },
        &[],
        &move |i| tls_env(&dir, &format!("node{i}")),
    )
    .await;
    let admin = c.nodes[0].user("admin").await;
    c.wait_all_up(&admin).await;
    (c, admin)
}

/// The certificate and key files `troupe cluster certs` wrote in `dir` for node `name`.
pub(crate) fn identity(dir: &Path, name: &str) -> (Vec<u8>, Vec<u8>) {
    let read = |f: String| std::fs::read(dir.join(f)).unwrap();
    (read(format!("{name}.pem")), read(format!("{name}-key.pem")))
}

/// Starts a cluster node with `env` that must refuse to start (exit 1, no panic); its log.
pub(crate) async fn refused_start(env: Vec<(&'static str, String)>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Options::default()
        .env("TROUPE__STATE__BACKEND", "s3")
        .env("TROUPE__BLOBS__BACKEND", "s3")
        .env("TROUPE__BLOBS__S3__BUCKET", "nowhere")
        .env("TROUPE__BLOBS__S3__ENDPOINT", "http://127.0.0.1:1")
        .env("TROUPE__CLUSTER__NODE_NAME", "lonely")
        .env(
            "TROUPE__CLUSTER__LISTEN",
            format!("127.0.0.1:{}", free_port()),
        );
    for (k, v) in env {
        o = o.env(k, v);
    }
    let Err((status, log)) = TestApp::start(&dir.path().join("d"), o).await else {
        panic!("must refuse to start")
    };
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    log
}

fn forwards_served(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("troupe_cluster_forwards_served_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tls_cluster_made_with_cluster_certs_serves_forwards_and_fails_over_in_under_1_s() {
    let dir = tempfile::tempdir().unwrap();
    let (mut c, admin) = tls_cluster(3, dir.path()).await;
    for node in &c.nodes {
        let logs = node.logs();
        assert!(logs.contains("\"tls\":true"), "TLS must be on:\n{logs}");
        assert!(!logs.contains("cluster.insecure = true"), "{logs}");
    }

    // Logins and reads of accounts owned by each node, through the others: forwarded.
    let before: f64 = {
        let mut sum = 0.0;
        for n in &c.nodes {
            sum += forwards_served(&n.get("/metrics", None).await.text().await.unwrap());
        }
        sum
    };
    for owner in 0..3 {
        let via = (owner + 1) % 3;
        let (names, tokens) =
            accounts_owned_by(&c, owner, &[0, 1, 2], via, &format!("o{owner}x"), 2).await;
        for (name, token) in names.iter().zip(&tokens) {
            let other = (owner + 2) % 3;
            c.nodes[other].login(name).await;
            let r = c.nodes[other].get("/api/v1/users/me", Some(token)).await;
            assert_eq!(r.status(), StatusCode::OK);
            let me: serde_json::Value = r.json().await.unwrap();
            assert_eq!(me["username"], name.as_str());
        }
    }
    let mut after = 0.0;
    for n in &c.nodes {
        after += forwards_served(&n.get("/metrics", None).await.text().await.unwrap());
    }
    assert!(
        after - before >= 12.0,
        "requests must have been forwarded over the TLS link ({before} → {after})"
    );

    // kill -9 of node2: its actors answer on node0 (within about a second: a speed goal that
    // `benches/cluster.rs -- failover` measures; `time_to_answer` bounds the wait generously).
    let (_, tokens) = accounts_owned_by(&c, 2, &[0, 1, 2], 0, "fo", 6).await;
    time_to_answer(&c, 0, &tokens, Instant::now()).await;
    c.nodes[2].kill9();
    let killed = Instant::now();
    let mut failover = time_to_answer(&c, 0, &tokens, killed).await;
    summary("failover after kill -9 over TLS (6 actors)", &mut failover);
    // And it comes back, over TLS, with the same certificate.
    c.restart(2).await;
    c.wait_all_up(&admin).await;
}

/// A TLS client for the raw link probe: trusts `ca`, presents `identity` (cert, key) if any.
pub(crate) fn tls_client(
    ca: &[u8],
    identity: Option<(&[u8], &[u8])>,
) -> tokio_rustls::TlsConnector {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca) {
        roots.add(c.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .unwrap()
    .with_root_certificates(roots);
    let config = match identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(cert)
                    .map(Result::unwrap)
                    .collect(),
                PrivateKeyDer::from_pem_slice(key).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// Connects to `addr` with `tls` and reads the 32 bytes the forwarding link sends once it
/// accepts a peer (its challenge): the session and the challenge, or `None` if the server
/// refused (the handshake or the read failed).
pub(crate) async fn challenge(
    addr: &str,
    tls: &tokio_rustls::TlsConnector,
) -> Option<(
    tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    [u8; 32],
)> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("troupe-cluster").unwrap();
    let mut s = tls.connect(name, tcp).await.ok()?;
    let mut challenge = [0u8; 32];
    s.read_exact(&mut challenge).await.ok()?;
    Some((s, challenge))
}

/// Connects to `addr` with `tls`; true if the server refused (the connection fails before
/// 32 bytes arrive: the forwarding link's challenge, once accepted).
pub(crate) async fn refuses(addr: &str, tls: &tokio_rustls::TlsConnector) -> bool {
    challenge(addr, tls).await.is_none()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn plain_tcp_and_foreign_ca_peers_are_refused_on_both_links_and_logged() {
    let dir = tempfile::tempdir().unwrap();
    let (c, admin) = tls_cluster(2, dir.path()).await;

    // A plain-TCP node (insecure) and a node with a certificate from another CA, both with
    // the right cookie and the TLS nodes as seeds.
    let plain = TestApp::spawn(node_options(
        &c.moto,
        "troupe",
        "plain",
        &format!("127.0.0.1:{}", free_port()),
        &c.addrs,
        COOKIE,
    ))
    .await;
    let foreign_dir = tempfile::tempdir().unwrap();
    certs(foreign_dir.path(), "stranger");
    let mut o = node_options(
        &c.moto,
        "troupe",
        "stranger",
        &format!("127.0.0.1:{}", free_port()),
        &c.addrs,
        COOKIE,
    );
    for (k, v) in tls_env(foreign_dir.path(), "stranger") {
        o = o.env(&k, v);
    }
    let stranger = TestApp::spawn(o).await;
    assert!(
        plain.logs().contains("cluster.insecure = true"),
        "an insecure node warns at start"
    );

    // The forwarding link, probed directly: plain TCP, a certificate from the other CA, and
    // no certificate at all.
    let link = c.link_of(0);
    let mut tcp = tokio::net::TcpStream::connect(&link).await.unwrap();
    let _ = tcp.write_all(&[0u8; 64]).await;
    let mut buf = [0u8; 32];
    assert!(
        tcp.read_exact(&mut buf).await.is_err(),
        "plain TCP must get no challenge"
    );
    let ca = std::fs::read(dir.path().join("ca.pem")).unwrap();
    let (fcert, fkey) = identity(foreign_dir.path(), "stranger");
    assert!(refuses(&link, &tls_client(&ca, Some((&fcert, &fkey)))).await);
    assert!(refuses(&link, &tls_client(&ca, None)).await);
    // (The probe itself is sound: a node certificate of the cluster's CA gets a challenge.)
    certs(dir.path(), "probe");
    let (pcert, pkey) = identity(dir.path(), "probe");
    assert!(!refuses(&link, &tls_client(&ca, Some((&pcert, &pkey)))).await);
    // And the membership link, probed the same way.
    let membership = &c.addrs[0];
    assert!(refuses(membership, &tls_client(&ca, Some((&fcert, &fkey)))).await);
    assert!(refuses(membership, &tls_client(&ca, None)).await);

    let logs = eventually(Duration::from_secs(15), || async {
        let logs = c.nodes[0].logs();
        (logs.contains("refused on the membership link: it does not speak TLS")
            // The stranger checks our certificate first, and does not trust our CA.
            && logs.contains("refused on the membership link: it refused our certificate")
            && logs.contains("refused on the forwarding link: it does not speak TLS")
            && logs.contains(
                "refused on the forwarding link: its certificate is not signed by the cluster CA",
            )
            && logs.contains("refused on the forwarding link: it presented no client certificate")
            && logs.contains(
                "refused on the membership link: its certificate is not signed by the cluster CA",
            )
            && logs.contains("refused on the membership link: it presented no client certificate"))
        .then_some(logs)
    })
    .await;
    for l in logs.lines().filter(|l| l.contains(" refused on the ")) {
        eprintln!("{l}");
    }
    // Each refusal names the peer's address, at WARN (a repeat from the same address within a
    // minute is at DEBUG: a refused node retries every second).
    let refusals: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains(" refused on the ") && !l.contains("\"DEBUG\""))
        .collect();
    assert!(refusals.len() >= 7, "{refusals:#?}");
    for l in refusals {
        assert!(
            l.contains("\"WARN\"") && l.contains("cluster peer 127.0.0.1:"),
            "{l}"
        );
    }

    // Neither ever becomes a member, on either TLS node.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for i in 0..2 {
        for intruder in ["plain", "stranger"] {
            assert_eq!(
                c.state_of(i, &admin, intruder).await,
                None,
                "{intruder} must never be a member"
            );
        }
        let v = c.view(i, &admin).await;
        assert_eq!(v["members"].as_array().unwrap().len(), 2, "{v}");
    }
    // The cluster still serves.
    c.nodes[1].login("admin").await;
    drop((plain, stranger));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_node_without_tls_files_or_insecure_refuses_to_start_and_says_how() {
    // Every start has the cluster's (strong) cookie, so what it refuses is the TLS setup.
    let start = |extra: Vec<(&'static str, String)>| {
        let mut env = vec![("TROUPE__CLUSTER__COOKIE", COOKIE.to_owned())];
        env.extend(extra);
        refused_start(env)
    };
    let log = start(vec![]).await;
    assert!(log.contains("the cluster links need TLS"), "{log}");
    assert!(
        log.contains("troupe cluster certs") && log.contains("cluster.insecure = true"),
        "the message names both ways: {log}"
    );

    // Half-configured, or files that are not what they claim: a message, not a panic.
    let dir = tempfile::tempdir().unwrap();
    certs(dir.path(), "lonely");
    let f = |n: &str| dir.path().join(n).display().to_string();
    let log = start(vec![("TROUPE__CLUSTER__TLS_CA", f("ca.pem"))]).await;
    assert!(
        log.contains("cluster.tls_cert and cluster.tls_key not set"),
        "{log}"
    );
    let log = start(vec![
        ("TROUPE__CLUSTER__TLS_CA", f("ca.pem")),
        ("TROUPE__CLUSTER__TLS_CERT", f("lonely.pem")),
        ("TROUPE__CLUSTER__TLS_KEY", f("ca-key.pem")),
    ])
    .await;
    assert!(log.contains("does not go with cluster.tls_cert"), "{log}");
    let log = start(vec![
        ("TROUPE__CLUSTER__TLS_CA", f("ca.pem")),
        ("TROUPE__CLUSTER__TLS_CERT", f("lonely.pem")),
        ("TROUPE__CLUSTER__TLS_KEY", f("lonely-key.pem")),
        ("TROUPE__CLUSTER__INSECURE", "true".into()),
    ])
    .await;
    assert!(log.contains("choose one"), "{log}");
}
