//! Blob storage (uploaded bytes, HLS segments, thumbnails) on `object_store`.
//!
//! One node keeps blobs on the local file system under the data dir, fsynced on write. A
//! cluster keeps them in a shared S3-compatible bucket. Blobs never travel between nodes over
//! the cluster link; each node talks to the blob store directly.

use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as BlobPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::path::Path;
use std::sync::Arc;

/// Where blobs are kept.
#[derive(Debug, Clone)]
pub enum BlobBackend {
    /// A directory on the local file system.
    Local {
        /// The root directory; created if missing.
        root: std::path::PathBuf,
    },
    /// An S3-compatible bucket.
    S3(S3Settings),
}

/// How to reach an S3-compatible bucket.
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// Endpoint URL, e.g. `http://127.0.0.1:9000`. Empty means AWS itself.
    pub endpoint: String,
    /// Bucket name.
    pub bucket: String,
    /// Region, e.g. `us-east-1`.
    pub region: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Address the bucket as `endpoint/bucket/key` rather than `bucket.endpoint/key`. MinIO,
    /// moto and most self-hosted stores need this.
    pub path_style: bool,
}

/// Why a blob operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// No blob at that path.
    #[error("blob not found: {0}")]
    NotFound(String),
    /// The configuration cannot work (bad endpoint, missing bucket name...).
    #[error("blob store misconfigured: {0}")]
    Config(String),
    /// Anything else the store reported.
    #[error("blob store error: {0}")]
    Store(String),
}

impl From<object_store::Error> for BlobError {
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { path, .. } => BlobError::NotFound(path),
            other => BlobError::Store(other.to_string()),
        }
    }
}

/// A handle on the blob store.
#[derive(Clone)]
pub struct BlobStore {
    inner: Arc<dyn ObjectStore>,
    backend: &'static str,
}

impl BlobStore {
    /// Opens the store described by `backend`.
    pub fn open(backend: &BlobBackend) -> Result<Self, BlobError> {
        match backend {
            BlobBackend::Local { root } => {
                std::fs::create_dir_all(root).map_err(|e| {
                    BlobError::Config(format!("cannot create {}: {e}", root.display()))
                })?;
                // object_store fsyncs the directories it creates below the root, not the root
                // itself: make its entry (and the data dir's, which holds it) durable here.
                for dir in std::iter::once(root.as_path()).chain(root.parent()) {
                    if dir.as_os_str().is_empty() {
                        continue;
                    }
                    std::fs::File::open(dir)
                        .and_then(|d| d.sync_all())
                        .map_err(|e| {
                            BlobError::Config(format!("cannot sync {}: {e}", dir.display()))
                        })?;
                }
                let fs = LocalFileSystem::new_with_prefix(root)
                    .map_err(|e| BlobError::Config(e.to_string()))?
                    .with_automatic_cleanup(true)
                    // A written blob (an upload part, a segment) must survive a crash: the
                    // reply that acknowledges it is sent after this returns.
                    .with_fsync(true);
                Ok(Self {
                    inner: Arc::new(fs),
                    backend: "local",
                })
            }
            BlobBackend::S3(s) => {
                if s.bucket.is_empty() {
                    return Err(BlobError::Config("blobs.s3.bucket is empty".into()));
                }
                // Bounded: object_store's defaults retry for up to three minutes, and an actor
                // whose write is stuck holds up every request queued for it. A store that is
                // down for longer answers with an error, which clients see as a 503.
                let retry = object_store::RetryConfig {
                    max_retries: 3,
                    retry_timeout: std::time::Duration::from_secs(5),
                    ..Default::default()
                };
                let client = object_store::ClientOptions::new()
                    .with_connect_timeout(std::time::Duration::from_secs(2))
                    .with_timeout(std::time::Duration::from_secs(15));
                let mut b = AmazonS3Builder::new()
                    .with_retry(retry)
                    .with_client_options(client)
                    .with_bucket_name(&s.bucket)
                    .with_region(&s.region)
                    .with_access_key_id(&s.access_key_id)
                    .with_secret_access_key(&s.secret_access_key)
                    .with_virtual_hosted_style_request(!s.path_style);
                if !s.endpoint.is_empty() {
                    b = b
                        .with_endpoint(&s.endpoint)
                        .with_allow_http(s.endpoint.starts_with("http://"));
                }
                let s3 = b.build().map_err(|e| BlobError::Config(e.to_string()))?;
                Ok(Self {
                    inner: Arc::new(s3),
                    backend: "s3",
                })
            }
        }
    }

    /// A short name of the backend: `local` or `s3`.
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// The underlying `object_store`, for streaming reads and multipart writes.
    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.inner
    }

    /// Writes a whole blob.
    pub async fn put(&self, path: &str, bytes: Bytes) -> Result<(), BlobError> {
        self.inner
            .put(&BlobPath::from(path), PutPayload::from_bytes(bytes))
            .await?;
        Ok(())
    }

    /// Reads a whole blob.
    pub async fn get(&self, path: &str) -> Result<Bytes, BlobError> {
        Ok(self.inner.get(&BlobPath::from(path)).await?.bytes().await?)
    }

    /// Deletes a blob; deleting a missing blob is not an error.
    pub async fn delete(&self, path: &str) -> Result<(), BlobError> {
        match self.inner.delete(&BlobPath::from(path)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The paths of every blob under `prefix` (a directory-like prefix, without the slash).
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        use futures::TryStreamExt;
        let prefix = BlobPath::from(prefix);
        let metas: Vec<_> = self.inner.list(Some(&prefix)).try_collect().await?;
        Ok(metas.into_iter().map(|m| m.location.to_string()).collect())
    }

    /// The paths under `prefix` that sort after `offset`, in the order the store lists them
    /// (S3 lists in key order): how a reader follows a log of blobs without listing it all.
    pub async fn list_after(&self, prefix: &str, offset: &str) -> Result<Vec<String>, BlobError> {
        use futures::TryStreamExt;
        let prefix = BlobPath::from(prefix);
        let metas: Vec<_> = self
            .inner
            .list_with_offset(Some(&prefix), &BlobPath::from(offset))
            .try_collect()
            .await?;
        let mut paths: Vec<String> = metas.into_iter().map(|m| m.location.to_string()).collect();
        paths.sort();
        Ok(paths)
    }

    /// Deletes every blob under `prefix`; returns how many there were.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<usize, BlobError> {
        let paths = self.list(prefix).await?;
        for p in &paths {
            self.delete(p).await?;
        }
        Ok(paths.len())
    }

    /// Starts a streamed write of a blob of unknown length. Bytes are sent in parts of
    /// `part_size` (at least 5 MiB for S3), so memory stays bounded whatever the size.
    pub async fn writer(&self, path: &str, part_size: usize) -> Result<BlobWriter, BlobError> {
        let upload = self.inner.put_multipart(&BlobPath::from(path)).await?;
        Ok(BlobWriter {
            inner: object_store::WriteMultipart::new_with_chunk_size(upload, part_size),
            written: 0,
        })
    }

    /// Copies a blob into a local file, appending; returns the bytes copied.
    pub async fn copy_to_file(
        &self,
        path: &str,
        file: &mut tokio::fs::File,
    ) -> Result<u64, BlobError> {
        use futures::StreamExt;
        use tokio::io::AsyncWriteExt;
        let mut stream = self.inner.get(&BlobPath::from(path)).await?.into_stream();
        let mut n = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            file.write_all(&chunk)
                .await
                .map_err(|e| BlobError::Store(format!("cannot write a local copy: {e}")))?;
            n += chunk.len() as u64;
        }
        Ok(n)
    }

    /// Writes a local file as a blob.
    pub async fn put_file(&self, path: &str, local: &Path) -> Result<(), BlobError> {
        let bytes = tokio::fs::read(local)
            .await
            .map_err(|e| BlobError::Store(format!("cannot read {}: {e}", local.display())))?;
        self.put(path, Bytes::from(bytes)).await
    }

    /// Writes, reads back and deletes a small probe blob: the readiness check.
    pub async fn probe(&self, name: &str) -> Result<(), BlobError> {
        let path = format!("_troupe/probe/{name}");
        let body = Bytes::from(format!("probe {}", uuid::Uuid::new_v4()));
        self.put(&path, body.clone()).await?;
        let back = self.get(&path).await?;
        if back != body {
            return Err(BlobError::Store(
                "probe blob read back different bytes".into(),
            ));
        }
        self.delete(&path).await
    }
}

/// A blob being written in parts ([`BlobStore::writer`]). Nothing is visible at its path
/// until [`BlobWriter::finish`]; [`BlobWriter::abort`] (or dropping it) leaves nothing.
pub struct BlobWriter {
    inner: object_store::WriteMultipart,
    written: u64,
}

impl BlobWriter {
    /// Appends bytes (without copying them), waiting while too many parts are in flight.
    pub async fn write(&mut self, bytes: Bytes) -> Result<(), BlobError> {
        self.inner.wait_for_capacity(2).await?;
        self.written += bytes.len() as u64;
        self.inner.put(bytes);
        Ok(())
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Completes the blob; on `Ok` it is durable.
    pub async fn finish(self) -> Result<u64, BlobError> {
        let n = self.written;
        self.inner.finish().await?;
        Ok(n)
    }

    /// Abandons the blob.
    pub async fn abort(self) {
        let _ = self.inner.abort().await;
    }
}

/// Local blob root under a data dir.
pub fn local_root(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("blobs")
}
