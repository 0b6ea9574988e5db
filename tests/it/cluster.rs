//! The cluster, with real processes: N troupe nodes sharing a moto_server bucket, joined
//! through ractor_cluster, and killed or frozen for real. `Cluster` is the reusable harness.

use crate::harness::*;
use crate::proxy::{Fault, Proxy};
use crate::s3::{s3_options, Moto};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use reqwest::StatusCode;
use serde_json::Value;
use std::time::{Duration, Instant};

/// The test clusters' cookie: strong by troupe's rule (a weak one is refused at start).
pub const COOKIE: &str = "tc-Q2h8Zr5Wm1Xk7Pv3Nd9Js4Lb6Ty0GfR";
/// Another strong cookie, for a node that must be refused for holding the wrong one.
pub const OTHER_COOKIE: &str = "tc-Vb7Kq1Mz4Hn8Wd2Xs6Pj0Rf3Lc9Ya5Ge";

/// N nodes and their shared store: the reusable harness for every actor kind's cluster
/// tests. "Start N nodes plus the store; kill, freeze or cut node k."
pub struct Cluster {
    pub moto: Moto,
    pub nodes: Vec<TestApp>,
    /// The address each node advertises (its proxy, with `proxied`).
    pub addrs: Vec<String>,
    /// With `proxied`: the proxies in front of each node's cluster port and of its
    /// forwarding link.
    pub proxies: Vec<Proxy>,
    pub link_proxies: Vec<Proxy>,
    /// With `proxied`: the loopback IP each node's cluster traffic comes from.
    pub ips: Vec<std::net::IpAddr>,
    /// With `proxied`: the proxy in front of the store, which every node uses.
    pub store_proxy: Option<Proxy>,
    pub(crate) options: Vec<Options>,
    /// Data dirs of restarted nodes, removed with the cluster.
    dirs: Vec<tempfile::TempDir>,
}

/// How to start a cluster.
#[derive(Clone, Copy, Default)]
pub struct Spec {
    /// Number of nodes.
    pub nodes: usize,
    /// Put a cuttable proxy in front of every node's cluster port and in front of the store,
    /// and give each node its own loopback IP, so that a test can cut node k off from some or
    /// all of the others, or everyone from the store.
    pub proxied: bool,
}

/// A port that was free a moment ago. Only a hint: another process may take it before the
/// server binds it (troupe binds its cluster ports itself and cannot be handed a listener), so
/// starts that use it retry with fresh ports when the server says the address is in use
/// ([`Cluster::start_with_node_env`], [`spawn_node`]).
pub fn free_port() -> u16 {
    free_port_on("127.0.0.1")
}

/// How many times a start is tried with fresh ports when one was taken meanwhile.
const PORT_ATTEMPTS: usize = 5;

/// Starts a cluster node listening on a fresh `127.0.0.1` port, with the options
/// `options(listen address)` gives; tries again with fresh ports (and fresh options: the
/// forwarding link's port too) when another process took one before the node bound it.
pub(crate) async fn spawn_node(options: impl Fn(&str) -> Options) -> TestApp {
    for attempt in 1..=PORT_ATTEMPTS {
        let addr = format!("127.0.0.1:{}", free_port());
        match TestApp::spawn_unless_port_taken(options(&addr)).await {
            Ok(app) => return app,
            Err(log) => eprintln!("attempt {attempt}: a port was taken meanwhile:\n{log}"),
        }
    }
    panic!("no free ports in {PORT_ATTEMPTS} attempts")
}

pub(crate) fn free_port_on(ip: &str) -> u16 {
    std::net::TcpListener::bind(format!("{ip}:0"))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A free forwarding-link address on `ip`.
pub(crate) fn link_listen_for(ip: &str) -> String {
    format!("{ip}:{}", free_port_on(ip))
}

pub fn node_options(
    moto: &Moto,
    bucket: &str,
    name: &str,
    listen: &str,
    seeds: &[String],
    cookie: &str,
) -> Options {
    let seeds = format!(
        "[{}]",
        seeds
            .iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(",")
    );
    let ip = listen.rsplit_once(':').map_or("127.0.0.1", |(ip, _)| ip);
    s3_options(moto, bucket)
        .env("TROUPE__STATE__BACKEND", "s3")
        .env("TROUPE__CLUSTER__NODE_NAME", name)
        .env("TROUPE__CLUSTER__LISTEN", listen)
        .env("TROUPE__CLUSTER__LINK_LISTEN", link_listen_for(ip))
        .env("TROUPE__CLUSTER__SEEDS", seeds)
        .env("TROUPE__CLUSTER__COOKIE", cookie)
        .env("TROUPE__CLUSTER__HEARTBEAT_MS", "200")
        .env("TROUPE__CLUSTER__FAILURE_DEADLINE_MS", "1000")
        // Plain TCP links by default, as the issue allows for tests; `cluster_tls` turns TLS
        // on with `tls_env`.
        .env("TROUPE__CLUSTER__INSECURE", "true")
}

impl Cluster {
    /// Starts `n` nodes named node0..node{n-1}, every one listing all as seeds, and waits
    /// until every node sees a majority.
    pub async fn start(n: usize) -> Cluster {
        Self::start_with(Spec {
            nodes: n,
            proxied: false,
        })
        .await
    }

    /// Starts a cluster as `spec` says, and waits until every node sees a majority.
    pub async fn start_with(spec: Spec) -> Cluster {
        Self::start_with_env(spec, &[]).await
    }

    /// Like [`Cluster::start_with`], with extra `TROUPE__...` settings on every node.
    pub async fn start_with_env(spec: Spec, env: &[(&str, String)]) -> Cluster {
        Self::start_with_node_env(spec, env, &|_| Vec::new()).await
    }

    /// Like [`Cluster::start_with_env`], with more settings for node `i` from `node_env(i)`
    /// (its TLS files, say), applied last.
    ///
    /// The nodes' cluster ports are picked before the nodes start (every node names all of
    /// them as seeds); when another process takes one meanwhile, the nodes started so far are
    /// killed and the whole cluster starts again on fresh ports.
    pub(crate) async fn start_with_node_env(
        spec: Spec,
        env: &[(&str, String)],
        node_env: &dyn Fn(usize) -> Vec<(String, String)>,
    ) -> Cluster {
        let moto = Moto::start().await;
        moto.create_bucket("troupe").await;
        let mut moto = Some(moto);
        for attempt in 1..=PORT_ATTEMPTS {
            match Self::try_start(moto.take().expect("moto"), spec, env, node_env).await {
                Ok(c) => {
                    for i in 0..spec.nodes {
                        c.wait_ready(i).await;
                    }
                    return c;
                }
                Err((m, log)) => {
                    eprintln!("attempt {attempt}: a cluster port was taken meanwhile; starting again on fresh ports:\n{log}");
                    moto = Some(m);
                }
            }
        }
        panic!("no free cluster ports in {PORT_ATTEMPTS} attempts")
    }

    /// One try of [`Cluster::start_with_node_env`]: `Err` with the store and the log of the
    /// node that could not bind its ports (the others are killed).
    async fn try_start(
        moto: Moto,
        spec: Spec,
        env: &[(&str, String)],
        node_env: &dyn Fn(usize) -> Vec<(String, String)>,
    ) -> Result<Cluster, (Moto, String)> {
        let n = spec.nodes;
        let ips: Vec<std::net::IpAddr> = (0..n)
            .map(|i| {
                if spec.proxied {
                    format!("127.0.0.{}", 10 + i).parse().unwrap()
                } else {
                    "127.0.0.1".parse().unwrap()
                }
            })
            .collect();
        let listens: Vec<String> = ips
            .iter()
            .map(|ip| format!("{ip}:{}", free_port_on(&ip.to_string())))
            .collect();
        let mut proxies = Vec::new();
        let mut store_proxy = None;
        let addrs = if spec.proxied {
            for l in &listens {
                proxies.push(Proxy::start("127.0.0.1", l).await);
            }
            let store = moto.endpoint.trim_start_matches("http://").to_owned();
            store_proxy = Some(Proxy::start("127.0.0.1", &store).await);
            proxies.iter().map(|p| p.addr.clone()).collect()
        } else {
            listens.clone()
        };
        let mut link_proxies = Vec::new();
        let mut options = Vec::new();
        for i in 0..n {
            let mut o = node_options(
                &moto,
                "troupe",
                &format!("node{i}"),
                &listens[i],
                &addrs,
                COOKIE,
            )
            .env("TROUPE__CLUSTER__ADVERTISE", addrs[i].clone());
            for (k, v) in env {
                o = o.env(k, v.clone());
            }
            for (k, v) in node_env(i) {
                o = o.env(&k, v);
            }
            if let Some(p) = &store_proxy {
                o = o.env("TROUPE__BLOBS__S3__ENDPOINT", format!("http://{}", p.addr));
                // Forwarded requests go through a proxy too, so that a cut cuts them.
                let link = link_listen_for(&ips[i].to_string());
                let proxy = Proxy::start("127.0.0.1", &link).await;
                o = o
                    .env("TROUPE__CLUSTER__LINK_LISTEN", link)
                    .env("TROUPE__CLUSTER__LINK_ADVERTISE", proxy.addr.clone());
                link_proxies.push(proxy);
            }
            options.push(o);
        }
        let mut nodes = Vec::new();
        for o in &options {
            match TestApp::spawn_unless_port_taken(o.clone()).await {
                Ok(app) => nodes.push(app),
                Err(log) => return Err((moto, log)),
            }
        }
        Ok(Cluster {
            moto,
            nodes,
            addrs,
            proxies,
            link_proxies,
            ips,
            store_proxy,
            options,
            dirs: Vec::new(),
        })
    }

    /// Waits until node `i` sees a majority (its `/readyz` cluster check passes).
    pub async fn wait_ready(&self, i: usize) {
        eventually(Duration::from_secs(30), || async {
            let r = self.nodes[i]
                .client
                .get(self.nodes[i].url("/readyz"))
                .send()
                .await
                .ok()?;
            let body: Value = r.json().await.ok()?;
            (body["cluster"]["ok"] == true).then_some(())
        })
        .await;
    }

    /// Waits until each node in `on` sees `n` members up.
    pub async fn wait_up(&self, token: &str, on: &[usize], n: usize) {
        for &i in on {
            eventually(Duration::from_secs(30), || async {
                let v = self.view(i, token).await;
                let up = v["members"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|m| m["state"] == "up")
                    .count();
                (up == n).then_some(())
            })
            .await;
        }
    }

    /// Waits until every node sees every node up.
    pub async fn wait_all_up(&self, token: &str) {
        let all: Vec<usize> = (0..self.nodes.len()).collect();
        self.wait_up(token, &all, all.len()).await;
    }

    /// Starts node `i` again after it was killed, with the same options, and waits until it
    /// sees a majority.
    ///
    /// It keeps its ports (the others know it by them): if another process holds one just
    /// now, the start is tried again until it is free (for at most 30 s).
    pub async fn restart(&mut self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let (tmp, app) = loop {
            let tmp = tempfile::tempdir().unwrap();
            let data = tmp.path().join("data");
            match TestApp::start(&data, self.options[i].clone()).await {
                Ok(app) => break (tmp, app),
                Err((_, log)) if address_in_use(&log) && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err((s, log)) => panic!("restart of node{i} failed ({s:?}):\n{log}"),
            }
        };
        self.dirs.push(tmp);
        self.nodes[i] = app;
        self.wait_ready(i).await;
    }

    /// `GET /api/v1/cluster` on node `i`.
    pub async fn view(&self, i: usize, token: &str) -> Value {
        let r = self.nodes[i].get("/api/v1/cluster", Some(token)).await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    /// The state node `i` reports for `member`.
    pub async fn state_of(&self, i: usize, token: &str, member: &str) -> Option<String> {
        let v = self.view(i, token).await;
        v["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == member)
            .map(|m| m["state"].as_str().unwrap().to_owned())
    }

    /// The forwarding link's address of node `i` (as its running process was started with).
    pub fn link_of(&self, i: usize) -> String {
        self.nodes[i]
            .options
            .env
            .iter()
            .rev()
            .find(|(k, _)| k == "TROUPE__CLUSTER__LINK_LISTEN")
            .map(|(_, v)| v.clone())
            .unwrap()
    }

    pub fn signal(&self, i: usize, sig: Signal) {
        kill(Pid::from_raw(self.nodes[i].pid() as i32), sig).unwrap();
    }

    /// Cuts node `k` off from every other node (a black hole both ways); it still reaches
    /// the store. Needs `proxied`.
    pub fn isolate(&self, k: usize, fault: Fault) {
        for proxies in [&self.proxies, &self.link_proxies] {
            for (i, p) in proxies.iter().enumerate() {
                if i == k {
                    p.set(fault);
                } else {
                    p.set_for_source(self.ips[k], fault);
                }
            }
        }
    }

    /// Cuts the link between nodes `a` and `b` only. Needs `proxied`.
    pub fn cut_link(&self, a: usize, b: usize, fault: Fault) {
        for proxies in [&self.proxies, &self.link_proxies] {
            proxies[a].set_for_source(self.ips[b], fault);
            proxies[b].set_for_source(self.ips[a], fault);
        }
    }

    /// The node that owns actor `kind/key` among `members` (node indexes), computed the way
    /// every node computes it.
    pub fn owner(kind: &str, key: &str, members: &[usize]) -> usize {
        let names: Vec<String> = members.iter().map(|i| format!("node{i}")).collect();
        let o = troupe_cluster::owner(&troupe_runtime::ActorId::new(kind, key), &names).unwrap();
        o.trim_start_matches("node").parse().unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_join_see_each_other_and_share_accounts() {
    let c = Cluster::start(3).await;
    let admin = c.nodes[0].user("admin").await;
    c.wait_up(&admin, &[0, 1, 2], 3).await;
    let v = c.view(1, &admin).await;
    assert_eq!(v["mode"], "cluster");
    assert_eq!(v["this_node"], "node1");
    assert_eq!(v["configured_members"], 3);
    assert_eq!(v["members"][0]["this_node"], true);
    assert!(v["members"][0]["actors"]["user"].as_u64().is_some(), "{v}");
    // State is shared: an account made on node0 logs in on node2.
    c.nodes[2].login("admin").await;
    for node in &c.nodes {
        let r = node.get("/readyz", None).await;
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["cluster"]["ok"], true, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_with_the_wrong_cookie_is_refused_and_logged() {
    let c = Cluster::start(2).await;
    let admin = c.nodes[0].user("admin").await;
    c.wait_up(&admin, &[0, 1], 2).await;
    let intruder = spawn_node(|addr| {
        node_options(&c.moto, "troupe", "intruder", addr, &c.addrs, OTHER_COOKIE)
    })
    .await;
    let logs = eventually(Duration::from_secs(15), || async {
        let all = format!(
            "{}{}{}",
            c.nodes[0].logs(),
            c.nodes[1].logs(),
            intruder.logs()
        );
        all.contains("failed authentication").then_some(all)
    })
    .await;
    assert!(logs.contains("wrong cluster cookie"));
    // Give it more tries (every node retries a peer about once a second): once several more
    // were refused, it must still not be a member.
    let refusals = |all: &str| all.matches("failed authentication").count();
    let seen = refusals(&logs);
    eventually(Duration::from_secs(30), || async {
        let all = format!(
            "{}{}{}",
            c.nodes[0].logs(),
            c.nodes[1].logs(),
            intruder.logs()
        );
        (refusals(&all) >= seen + 3).then_some(())
    })
    .await;
    for i in 0..2 {
        assert_eq!(
            c.state_of(i, &admin, "intruder").await,
            None,
            "the intruder must never be a member"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_and_frozen_nodes_are_declared_down_and_a_thawed_one_comes_back() {
    let mut c = Cluster::start(3).await;
    let admin = c.nodes[0].user("admin").await;
    c.wait_up(&admin, &[0, 1, 2], 3).await;

    // How soon a node is declared down (goal: about the 1 s failure deadline) is measured by
    // `benches/cluster.rs -- failover`; here it must happen, within a bound that leaves room
    // for a loaded 2-core machine.
    // kill -9: the session breaks, heartbeats stop.
    let t = Instant::now();
    c.nodes[2].kill9();
    eventually(Duration::from_secs(30), || async {
        (c.state_of(0, &admin, "node2").await.as_deref() == Some("down")).then_some(())
    })
    .await;
    let killed = t.elapsed();

    // SIGSTOP: the TCP session stays open (ractor_cluster never notices); our deadline does.
    let t = Instant::now();
    c.signal(1, Signal::SIGSTOP);
    eventually(Duration::from_secs(30), || async {
        (c.state_of(0, &admin, "node1").await.as_deref() == Some("down")).then_some(())
    })
    .await;
    let frozen = t.elapsed();
    eprintln!("declared down after kill -9: {killed:?}; after SIGSTOP: {frozen:?} (deadline 1 s, heartbeat 200 ms)");

    // One of three up: no majority, so node0 is not ready.
    let r = c.nodes[0].get("/readyz", None).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["cluster"]["ok"], false, "{body}");

    // Thawed, it is up again and node0 is ready again.
    c.signal(1, Signal::SIGCONT);
    eventually(Duration::from_secs(30), || async {
        (c.state_of(0, &admin, "node1").await.as_deref() == Some("up")).then_some(())
    })
    .await;
    eventually(Duration::from_secs(30), || async {
        (c.nodes[0].get("/readyz", None).await.status() == StatusCode::OK).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_mode_refuses_to_start_without_a_shared_store() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options::default()
        .env("TROUPE__CLUSTER__NODE_NAME", "lonely")
        .env("TROUPE__CLUSTER__COOKIE", COOKIE)
        .env(
            "TROUPE__CLUSTER__LISTEN",
            format!("127.0.0.1:{}", free_port()),
        );
    let Err((status, log)) = TestApp::start(&dir.path().join("d"), opts).await else {
        panic!("must refuse")
    };
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{log}");
    assert!(log.contains("cluster mode needs a shared store"), "{log}");
}

fn migrate(data_dir: &std::path::Path, moto: &Moto, to: &str) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_troupe"));
    cmd.args(["migrate", "--data-dir"])
        .arg(data_dir)
        .args(["--to", to]);
    for (k, v) in s3_options(moto, "ignored").env {
        if k != "TROUPE__BLOBS__S3__BUCKET" && k != "TROUPE__BLOBS__BACKEND" {
            cmd.env(k, v);
        }
    }
    cmd.output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_one_node_deployment_migrates_into_the_shared_store_and_a_cluster_node_serves_it() {
    let moto = Moto::start().await;
    moto.create_bucket("grown").await;
    let mut single = TestApp::spawn(Options::default()).await;
    let admin = single.user("founder").await;
    single.register("member").await;
    let r = single
        .request(
            reqwest::Method::PUT,
            "/api/v1/admin/users/member/plan",
            Some(&admin),
            Some(serde_json::json!({"plan": "premium"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let blob = single.data_dir.join("blobs/videos/v1/seg_00000.ts");
    std::fs::create_dir_all(blob.parent().unwrap()).unwrap();
    std::fs::write(&blob, b"not really a segment").unwrap();

    // Not while the server runs.
    let busy = migrate(&single.data_dir, &moto, "s3://grown");
    assert!(!busy.status.success());
    assert!(
        String::from_utf8_lossy(&busy.stderr).contains("already in use"),
        "{busy:?}"
    );

    let data_dir = single.data_dir.clone();
    let status = single.terminate_wait_after_sigterm().await;
    assert!(status.success());
    let out = migrate(&data_dir, &moto, "s3://grown");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("1 blobs"), "{stdout}");
    assert!(!stdout.contains(" 0 state entries copied"), "{stdout}");
    // Idempotent: a second run copies nothing new.
    let again =
        String::from_utf8_lossy(&migrate(&data_dir, &moto, "s3://grown").stdout).to_string();
    assert!(again.contains(": 0 state entries copied"), "{again}");
    assert!(moto
        .keys("grown")
        .await
        .contains(&"videos/v1/seg_00000.ts".to_string()));

    // A cluster node on the shared store serves the migrated accounts.
    let node =
        spawn_node(|addr| node_options(&moto, "grown", "node0", addr, &[addr.to_owned()], COOKIE))
            .await;
    let token = node.login("founder").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let member: Value = node
        .get("/api/v1/admin/users/member", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(member["plan"], "premium");
    assert_eq!(member["role"], "user");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forgetting_two_dead_members_of_five_keeps_a_majority_through_a_third_loss() {
    let mut c = Cluster::start(5).await;
    let admin = c.nodes[0].user("admin").await;
    c.nodes[0].register("bea").await;
    c.wait_all_up(&admin).await;
    // A live member cannot be forgotten.
    let r = c.nodes[0]
        .request(
            reqwest::Method::DELETE,
            "/api/v1/cluster/members/node4",
            Some(&admin),
            None,
        )
        .await;
    problem(r, 409, "member_alive").await;
    let r = c.nodes[0]
        .request(
            reqwest::Method::DELETE,
            "/api/v1/cluster/members/nobody",
            Some(&admin),
            None,
        )
        .await;
    problem(r, 404, "member_unknown").await;

    // Two of five die for good: three still make a majority of five.
    c.nodes[3].kill9();
    c.nodes[4].kill9();
    eventually(Duration::from_secs(10), || async {
        (c.state_of(0, &admin, "node4").await.as_deref() == Some("down")
            && c.state_of(0, &admin, "node3").await.as_deref() == Some("down"))
        .then_some(())
    })
    .await;
    // One through the admin endpoint, one through the command line.
    let r = c.nodes[1]
        .request(
            reqwest::Method::DELETE,
            "/api/v1/cluster/members/node3",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::NO_CONTENT,
        "{}",
        r.text().await.unwrap()
    );
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_troupe"));
    cmd.args(["cluster", "forget", "node4"]);
    for (k, v) in &c.options[0].env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    // Every survivor now counts three members.
    for i in 0..3 {
        eventually(Duration::from_secs(10), || async {
            let v = c.view(i, &admin).await;
            (v["configured_members"] == 3).then_some(())
        })
        .await;
    }
    // A third node dies: two of three are still a majority, so the cluster keeps serving
    // (without the forgets, two of five would serve nothing).
    c.nodes[2].kill9();
    let login = eventually(Duration::from_secs(15), || async {
        let r = c.nodes[0]
            .post(
                "/api/v1/auth/login",
                serde_json::json!({"username": "bea", "password": PASSWORD}),
            )
            .await;
        (r.status() == StatusCode::OK).then_some(r)
    })
    .await;
    assert_eq!(login.status(), StatusCode::OK);
    let r = c.nodes[1].get("/readyz", None).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
}
