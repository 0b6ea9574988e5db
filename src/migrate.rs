//! `troupe migrate --to s3://bucket`: grows a one-node deployment into a cluster by copying its
//! state (sled) and blobs (local files) into the shared S3-compatible store.
//!
//! The copy is idempotent: state keys already in the target with the same bytes are skipped,
//! and a key holding different bytes stops the migration rather than overwrite a cluster's
//! newer state. The data dir is locked for the whole run, so no server can write meanwhile.

use crate::config::Config;
use anyhow::{bail, Context};
use futures::TryStreamExt;
use object_store::path::Path as BlobPath;
use object_store::{ObjectStore, ObjectStoreExt};
use std::sync::Arc;
use troupe_runtime::blob::{self, BlobBackend, BlobStore};
use troupe_runtime::store::{ObjectStateStore, Precondition, SledStore, StateStore, StoreError};

/// What a migration copied.
#[derive(Debug, Default)]
pub struct Report {
    /// State entries written to the target.
    pub state_copied: usize,
    /// State entries already there with the same bytes.
    pub state_skipped: usize,
    /// Blobs copied.
    pub blobs_copied: usize,
    /// Bytes of blobs copied.
    pub blob_bytes: u64,
    /// Whether the one-node signing key went into the cluster's keyring (`None`: it has none,
    /// a key is configured instead).
    pub signing_key: Option<bool>,
}

/// Copies `config.server.data_dir` into the S3 store `target` (`s3://bucket`); the endpoint and
/// credentials come from `[blobs.s3]`.
pub async fn run(config: &Config, target: &str) -> anyhow::Result<Report> {
    let Some(bucket) = target
        .strip_prefix("s3://")
        .map(|b| b.trim_end_matches('/'))
    else {
        bail!("--to must look like s3://BUCKET (endpoint and credentials come from [blobs.s3])");
    };
    if bucket.is_empty() || bucket.contains('/') {
        bail!("--to must name a bucket: s3://BUCKET");
    }
    let data_dir = &config.server.data_dir;
    if !data_dir.join("state").is_dir() {
        bail!(
            "{} holds no troupe state (no state/ directory)",
            data_dir.display()
        );
    }
    let _lock = crate::startup::lock_data_dir(data_dir)?;
    let mut s3 = crate::startup::s3_settings(config)?;
    s3.bucket = bucket.to_owned();
    let remote = BlobStore::open(&BlobBackend::S3(s3)).context("cannot open the target bucket")?;
    let target_state = ObjectStateStore::new(remote.object_store().clone(), "state");
    let source = SledStore::open(&data_dir.join("state"))
        .with_context(|| format!("cannot open the state in {}", data_dir.display()))?;

    let mut report = Report::default();
    for (key, v) in source.scan_prefix("").await? {
        if key.starts_with("_troupe/") {
            continue;
        }
        match target_state
            .put(&key, v.value.clone(), Precondition::Absent)
            .await
        {
            Ok(_) => report.state_copied += 1,
            Err(StoreError::Conflict) => {
                let there = target_state.get(&key).await?;
                if there.is_some_and(|t| t.value == v.value) {
                    report.state_skipped += 1;
                } else {
                    bail!("{key} already exists in s3://{bucket} with other content; refusing to overwrite it (is this bucket already a cluster's?)");
                }
            }
            Err(e) => return Err(e).with_context(|| format!("cannot copy {key}")),
        }
    }

    let local_root = blob::local_root(data_dir);
    if local_root.is_dir() {
        let local = BlobStore::open(&BlobBackend::Local { root: local_root })?;
        let src: Arc<dyn ObjectStore> = local.object_store().clone();
        let dst = remote.object_store().clone();
        let metas: Vec<_> = src
            .list(None)
            .try_collect()
            .await
            .context("cannot list local blobs")?;
        for meta in metas {
            let path: &BlobPath = &meta.location;
            if path.as_ref().starts_with("_troupe/") {
                continue;
            }
            let bytes = src.get(path).await?.bytes().await?;
            dst.put(path, bytes.into())
                .await
                .with_context(|| format!("cannot copy blob {path}"))?;
            report.blobs_copied += 1;
            report.blob_bytes += meta.size;
        }
    }
    // The one-node signing key, into the cluster's keyring (sealed with the cookie), so that
    // tokens issued before the migration keep working after it.
    let local = data_dir.join("jwt-secret");
    if crate::secret::configured(&config.auth)?.is_none() && local.exists() {
        report.signing_key = Some(match crate::startup::cluster_cookie(config) {
            Ok(cookie) => {
                let secret = crate::secret::local(data_dir)?;
                crate::keys::adopt(remote.object_store().as_ref(), &cookie, &secret).await?;
                true
            }
            Err(_) => false,
        });
    }
    Ok(report)
}
