//! The S3 blob backend against a real S3-compatible server (moto_server, installed by the
//! test command), including the store going away and coming back.

use crate::harness::*;
use reqwest::StatusCode;
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A moto_server process on a free port.
pub struct Moto {
    pub endpoint: String,
    port: u16,
    child: Child,
}

impl Moto {
    pub async fn start() -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::start_on(port).await
    }

    async fn start_on(port: u16) -> Moto {
        // moto_server, with its conditional writes made atomic (see the script).
        let child = Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/moto_atomic.py"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 not found: run the README's test command, which installs moto (python3 -m pip install 'moto[server]')");
        let endpoint = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        eventually(Duration::from_secs(30), || async {
            client
                .get(format!("{endpoint}/moto-api/"))
                .send()
                .await
                .ok()
                .map(|_| ())
        })
        .await;
        Moto {
            endpoint,
            port,
            child,
        }
    }

    pub async fn create_bucket(&self, bucket: &str) {
        let r = reqwest::Client::new()
            .put(format!("{}/{bucket}", self.endpoint))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "create bucket: {}", r.status());
    }

    pub async fn keys(&self, bucket: &str) -> Vec<String> {
        let xml = reqwest::Client::new()
            .get(format!("{}/{bucket}?list-type=2", self.endpoint))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        xml.split("<Key>")
            .skip(1)
            .map(|s| s.split("</Key>").next().unwrap().to_owned())
            .collect()
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub async fn restart(&mut self) {
        self.stop();
        *self = Self::start_on(self.port).await;
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn s3_options(moto: &Moto, bucket: &str) -> Options {
    Options::default()
        .env("TROUPE__BLOBS__BACKEND", "s3")
        .env("TROUPE__BLOBS__S3__ENDPOINT", moto.endpoint.clone())
        .env("TROUPE__BLOBS__S3__BUCKET", bucket)
        .env("TROUPE__BLOBS__S3__ACCESS_KEY_ID", "testing")
        .env("TROUPE__BLOBS__S3__SECRET_ACCESS_KEY", "testing")
        .env("TROUPE__BLOBS__S3__PATH_STYLE", "true")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_s3_blob_store_works_against_a_real_s3_server_and_outages_show_in_readyz() {
    let mut moto = Moto::start().await;
    moto.create_bucket("troupe-blobs").await;
    let app = TestApp::spawn(s3_options(&moto, "troupe-blobs")).await;
    let ready = async |app: &TestApp| {
        let r = app.get("/readyz", None).await;
        let status = r.status();
        (status, r.json::<Value>().await.unwrap())
    };
    let (status, body) = ready(&app).await;
    assert_eq!(body["blobs"]["ok"], true, "{body}");
    assert!(
        body["blobs"]["detail"].as_str().unwrap().contains("s3"),
        "{body}"
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    // The probe wrote, read back and deleted its object: nothing is left behind.
    assert!(moto.keys("troupe-blobs").await.is_empty());

    // The store goes away: not ready, with Retry-After, and the API still answers.
    moto.stop();
    let r = app.get("/readyz", None).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().get("retry-after").is_some());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["blobs"]["ok"], false, "{body}");
    assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);

    // It comes back: ready again without a restart.
    moto.restart().await;
    moto.create_bucket("troupe-blobs").await;
    let (status, body) = ready(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_is_reported_not_hidden() {
    let moto = Moto::start().await;
    let app = TestApp::spawn(s3_options(&moto, "no-such-bucket")).await;
    let r = app.get("/readyz", None).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["blobs"]["ok"], false, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_object_state_store_passes_the_conformance_suite_on_a_real_s3_server() {
    use std::sync::Arc;
    use troupe_runtime::blob::{BlobBackend, BlobStore, S3Settings};
    use troupe_runtime::store::{conformance, ObjectStateStore};
    let moto = Moto::start().await;
    moto.create_bucket("troupe-state").await;
    let blobs = BlobStore::open(&BlobBackend::S3(S3Settings {
        endpoint: moto.endpoint.clone(),
        bucket: "troupe-state".into(),
        region: "us-east-1".into(),
        access_key_id: "testing".into(),
        secret_access_key: "testing".into(),
        path_style: true,
    }))
    .unwrap();
    let store = Arc::new(ObjectStateStore::new(blobs.object_store().clone(), "state"));
    // Conditional creates and updates, tombstoned deletes, prefix scans, and exactly one
    // winner among 32 concurrent compare-and-swaps, all against real S3 semantics.
    conformance::run_all(store).await;
    assert!(moto
        .keys("troupe-state")
        .await
        .iter()
        .all(|k| k.starts_with("state/")));
}
