//! The API document tells the whole truth: schemathesis (PyPI), a real API fuzzer, runs every
//! one of its checks against a real troupe, signed in as an admin, driven by
//! `/api/openapi.json`: no 5xx, every status and body as documented, schema-valid requests
//! accepted, schema-violating ones refused, wrong methods answered 405, and the stateful
//! links (create, then read) followed. `tests/contract/schemathesis.toml` lists, with reasons,
//! the few answers a JSON Schema cannot state (a password's strength, opaque cursors, tus's 412).

use crate::harness::*;
use std::process::Command;

#[tokio::test]
async fn schemathesis_with_every_check_finds_nothing_the_api_document_does_not_say() {
    let st = which("st").expect(
        "schemathesis (the `st` command) is not installed: scripts/test.sh installs it from PyPI",
    );
    let app = TestApp::spawn(Options::default()).await;
    let token = app.user("admin").await;
    let url = app.url("/api/openapi.json");
    let config = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/contract/schemathesis.toml"
    );
    let out = tokio::task::spawn_blocking(move || {
        Command::new(st)
            .args(["--config-file", config, "--no-color", "run", &url])
            // Every check is on by default. `--checks all` would also override the few that
            // tests/contract/schemathesis.toml turns off for one operation, with its reason.
            .args(["--max-examples", "10", "--seed", "1"])
            .args(["--header", &format!("Authorization: Bearer {token}")])
            .arg("--request-timeout=10")
            .output()
            .expect("schemathesis runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "schemathesis found problems (exit {:?}):\n{stdout}\n{stderr}",
        out.status.code()
    );
    // It really ran, over every operation of the document.
    let number_after = |label: &str| -> usize {
        stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.split('/').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no '{label}' in the report:\n{stdout}"))
    };
    let (selected, tested) = (number_after("Selected:"), number_after("Tested:"));
    assert!(selected >= 40, "only {selected} operations:\n{stdout}");
    assert_eq!(
        tested, selected,
        "not every operation was tested:\n{stdout}"
    );
}

fn which(cmd: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(cmd))
            .find(|p| p.is_file())
    })
}
