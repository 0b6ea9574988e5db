//! tus PATCH throughput against `dd ... conv=fsync`, side by side in one run.
//!
//! The same bytes (a file of random data, [`TOTAL`] bytes) are written to the same disk twice:
//!
//! * **dd**: `dd if=<file> of=<dir>/dd.out bs=1M conv=fsync`, so its time includes making the
//!   bytes durable, which is what a 204 from troupe promises too;
//! * **troupe**: one tus upload on a `troupe serve` process (release build, sled, local blobs
//!   in a data dir on the same file system), sent as PATCHes of [`PATCH`] bytes one after
//!   another over one keep-alive connection, each answered 204 only once its bytes and the new
//!   offset are durable. The upload is declared one byte longer than what is sent, so that no
//!   transcode starts and competes for the disk.
//!
//! Each is run [`ROUNDS`] times, alternating; the medians and the ratio
//! troupe MB/s ÷ dd MB/s are printed (goal: ≥ 0.7).
//!
//! ```sh
//! cargo bench --bench uploads
//! ```

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TOTAL: usize = 256 << 20;
const PATCH: usize = 32 << 20;
const ROUNDS: usize = 5;
const PASSWORD: &str = "violet-harbor-cinnamon-42";

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(run());
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

async fn run() {
    // Under target/, on the same file system as a data dir would be (not a tmpfs /tmp).
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("uploads-bench");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let data: Vec<u8> = {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        (0..TOTAL)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    };
    let src = root.join("source.bin");
    std::fs::File::create(&src)
        .unwrap()
        .write_all(&data)
        .unwrap();
    // Sent without copying: each PATCH body is a slice of this.
    let data = bytes::Bytes::from(data);

    let data_dir = root.join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_troupe"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data_dir)
        .env(
            "TROUPE__AUTH__JWT_SECRET",
            "bench-secret-bench-secret-bench-secret-0",
        )
        .env("TROUPE__RATE_LIMIT__ENABLED", "false")
        .env("TROUPE__LOG__LEVEL", "warn")
        .env("TROUPE__SERVER__WORKERS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start troupe");
    let line = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .find(|l| l.starts_with("troupe listening on "))
        .expect("troupe prints its address");
    let base = line.trim_start_matches("troupe listening on ").to_owned();
    let client = Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap();
    let token = login(&client, &base).await;

    let mut dd_rates = Vec::new();
    let mut troupe_rates = Vec::new();
    for round in 0..ROUNDS {
        // dd, on the same disk.
        let out = root.join("dd.out");
        let t = Instant::now();
        let st = Command::new("dd")
            .arg(format!("if={}", src.display()))
            .arg(format!("of={}", out.display()))
            .args(["bs=1M", "conv=fsync", "status=none"])
            .status()
            .expect("dd runs");
        assert!(st.success());
        let dd = TOTAL as f64 / t.elapsed().as_secs_f64() / 1e6;
        std::fs::remove_file(&out).unwrap();
        // troupe: one upload, PATCH after PATCH.
        let video: Value = client
            .post(format!("{base}/api/v1/videos"))
            .bearer_auth(&token)
            .json(&json!({"title": format!("bench {round}")}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = video["id"].as_str().unwrap();
        use base64::Engine;
        let meta = format!(
            "video_id {}",
            base64::engine::general_purpose::STANDARD.encode(id)
        );
        let r = client
            .post(format!("{base}/api/v1/uploads"))
            .bearer_auth(&token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", (TOTAL + 1).to_string())
            .header("Upload-Metadata", meta)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let loc = format!("{base}{}", r.headers()["location"].to_str().unwrap());
        let t = Instant::now();
        for off in (0..TOTAL).step_by(PATCH) {
            let body = data.slice(off..off + PATCH);
            let r = client
                .patch(&loc)
                .bearer_auth(&token)
                .header("Tus-Resumable", "1.0.0")
                .header("Upload-Offset", off.to_string())
                .header("Content-Type", "application/offset+octet-stream")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(
                r.status(),
                StatusCode::NO_CONTENT,
                "{}",
                r.text().await.unwrap()
            );
        }
        let troupe = TOTAL as f64 / t.elapsed().as_secs_f64() / 1e6;
        eprintln!("round {round}: dd {dd:.0} MB/s, troupe {troupe:.0} MB/s");
        dd_rates.push(dd);
        troupe_rates.push(troupe);
        // Free the disk space for the next round.
        client
            .delete(format!("{base}/api/v1/videos/{id}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
    }
    let _ = child.kill();
    let _ = child.wait();
    let (dd, troupe) = (median(dd_rates), median(troupe_rates));
    println!(
        "tus PATCH vs dd conv=fsync ({} MiB in {} MiB PATCHes, median of {ROUNDS})",
        TOTAL >> 20,
        PATCH >> 20
    );
    println!("  dd conv=fsync : {dd:8.0} MB/s");
    println!("  troupe PATCH  : {troupe:8.0} MB/s");
    println!("  ratio         : {:.2}x (goal >= 0.70)", troupe / dd);
    let _ = std::fs::remove_dir_all(&root);
}

async fn login(client: &Client, base: &str) -> String {
    client
        .post(format!("{base}/api/v1/auth/register"))
        .json(&json!({"username": "bench", "email": "bench@example.org", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let r: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "bench", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["access_token"].as_str().unwrap().to_owned()
}
