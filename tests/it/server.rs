//! The server process: data-dir locking, the signing secret, configuration errors.

use crate::harness::*;
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_the_same_data_dir_exits_with_a_clear_message() {
    let first = TestApp::spawn(Options::default()).await;
    let second = TestApp::start(&first.data_dir, Options::default()).await;
    let Err((status, log)) = second else {
        panic!("the second server must not start")
    };
    let status = status.expect("it exits by itself");
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains("already in use by another troupe process"),
        "{log}"
    );
    assert!(
        log.contains(&first.pid().to_string()),
        "the message names the holder: {log}"
    );
    assert!(!log.contains("panicked"), "{log}");
    assert_eq!(first.get("/healthz", None).await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_signing_secret_is_kept_so_tokens_survive_a_restart() {
    let mut app = TestApp::spawn(Options {
        generated_secret: true,
        ..Default::default()
    })
    .await;
    let token = app.user("jack").await;
    let secret_file = app.data_dir.join("jwt-secret");
    let secret = std::fs::read_to_string(&secret_file).expect("secret generated in the data dir");
    assert_eq!(secret.len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&secret_file)
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
    }
    app.kill9();
    let app = app.restart().await;
    assert_eq!(std::fs::read_to_string(&secret_file).unwrap(), secret);
    assert_eq!(
        app.get("/api/v1/users/me", Some(&token)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_secret_file_is_used_and_a_short_secret_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret");
    std::fs::write(&file, "0123456789abcdef0123456789abcdef0123456789\n").unwrap();
    let opts = Options {
        generated_secret: true,
        ..Default::default()
    }
    .env("TROUPE__AUTH__JWT_SECRET_FILE", file.to_str().unwrap());
    let app = TestApp::spawn(opts).await;
    app.user("kate").await;
    assert!(!app.data_dir.join("jwt-secret").exists());

    let short = Options {
        generated_secret: true,
        ..Default::default()
    }
    .env("TROUPE__AUTH__JWT_SECRET", "too-short");
    let Err((status, log)) = TestApp::start(&dir.path().join("d2"), short).await else {
        panic!("must refuse")
    };
    assert_eq!(status.and_then(|s| s.code()), Some(1));
    assert!(log.contains("at least 32"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_configuration_is_refused_with_a_message_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    for (k, v, needle) in [
        ("TROUPE__SERVER__WORKERS", "many", "workers"),
        ("TROUPE__BLOBS__BACKEND", "floppy", "blobs.backend"),
        ("TROUPE__SERVER__NO_SUCH_KEY", "1", "no_such_key"),
    ] {
        let Err((status, log)) =
            TestApp::start(&dir.path().join(k), Options::default().env(k, v)).await
        else {
            panic!("{k}={v} must be refused")
        };
        assert_eq!(status.and_then(|s| s.code()), Some(1), "{log}");
        assert!(log.to_lowercase().contains(needle), "{k}: {log}");
        assert!(!log.contains("panicked"), "{log}");
    }
}

#[test]
fn docker_compose_and_dockerfile_commands_parse_with_the_real_cli() {
    use clap::Parser;
    let compose = include_str!("../../docker-compose.yml");
    let mut commands = Vec::new();
    let mut rest = compose;
    while let Some(i) = rest.find("command: [") {
        let from = &rest[i + "command: ".len()..];
        let end = from.find(']').expect("closed command array");
        commands.push(
            serde_json::from_str::<Vec<String>>(&from[..=end])
                .expect("command is a JSON-style array"),
        );
        rest = &from[end..];
    }
    let dockerfile = include_str!("../../Dockerfile");
    let cmd = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("CMD "))
        .expect("Dockerfile CMD");
    commands.push(serde_json::from_str(cmd).unwrap());
    let node_commands = commands
        .iter()
        .filter(|c| c.contains(&"--node-name".to_string()))
        .count();
    assert_eq!(node_commands, 3, "three troupe nodes in docker-compose.yml");
    // The certificates service runs `troupe cluster certs ...` and `troupe cluster cookie`
    // through a shell: each up to the first shell operator.
    for line in compose.lines().filter(|l| !l.trim_start().starts_with('#')) {
        if let Some(i) = line.find("troupe cluster ") {
            let command = &line[i + "troupe ".len()..];
            let end = command
                .find(['>', '&', ';', '|', ')'])
                .unwrap_or(command.len());
            commands.push(
                command[..end]
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect(),
            );
        }
    }
    assert!(
        commands.iter().any(|c| c == &["cluster", "cookie"]),
        "docker-compose.yml makes the cluster's cookie"
    );
    assert!(
        commands
            .iter()
            .any(|c| c.first().map(String::as_str) == Some("cluster")),
        "docker-compose.yml makes the cluster's certificates"
    );
    for c in commands
        .iter()
        .filter(|c| matches!(c.first().map(String::as_str), Some("serve" | "cluster")))
    {
        let argv = std::iter::once("troupe".to_string()).chain(c.iter().cloned());
        if let Err(e) = troupe::cli::Cli::try_parse_from(argv) {
            panic!("{c:?} does not parse: {e}");
        }
    }
}
