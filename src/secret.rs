//! The token-signing secret: configured as a value or a file, or else generated on first start
//! and kept in the data dir, so that tokens stay valid across restarts. In a cluster with no
//! configured secret, the keys live in the shared bucket instead (see [`crate::keys`]).

use crate::config::AuthConfig;
use anyhow::{bail, Context};
use std::io::Write;
use std::path::Path;

/// Shortest accepted secret, in bytes.
const MIN_LEN: usize = 32;

/// Loads the signing secret, creating `<data_dir>/jwt-secret` if nothing is configured.
pub fn load(cfg: &AuthConfig, data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    match configured(cfg)? {
        Some(secret) => Ok(secret),
        None => local(data_dir),
    }
}

/// The configured secret (`auth.jwt_secret`, else `auth.jwt_secret_file`), if any.
pub fn configured(cfg: &AuthConfig) -> anyhow::Result<Option<Vec<u8>>> {
    if !cfg.jwt_secret.is_empty() {
        return check(cfg.jwt_secret.as_bytes().to_vec(), "auth.jwt_secret").map(Some);
    }
    if !cfg.jwt_secret_file.is_empty() {
        let raw = std::fs::read(&cfg.jwt_secret_file)
            .with_context(|| format!("cannot read auth.jwt_secret_file {}", cfg.jwt_secret_file))?;
        return check(trim(raw), "auth.jwt_secret_file").map(Some);
    }
    Ok(None)
}

/// The one-node secret, `<data_dir>/jwt-secret`, created on first use.
pub fn local(data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    let path = data_dir.join("jwt-secret");
    match std::fs::read(&path) {
        Ok(raw) => check(trim(raw), &path.display().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => generate(&path),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn trim(mut raw: Vec<u8>) -> Vec<u8> {
    while raw.last().is_some_and(|b| b.is_ascii_whitespace()) {
        raw.pop();
    }
    raw
}

fn check(secret: Vec<u8>, source: &str) -> anyhow::Result<Vec<u8>> {
    if secret.len() < MIN_LEN {
        bail!(
            "the signing secret from {source} is {} bytes; it must be at least {MIN_LEN}",
            secret.len()
        );
    }
    Ok(secret)
}

fn generate(path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    // Write to a temp file, fsync, rename: a crash never leaves a half-written secret.
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    f.write_all(hex.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    tracing::info!(path = %path.display(), "generated a new token-signing secret");
    Ok(hex.into_bytes())
}
