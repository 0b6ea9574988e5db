//! Building the application and running it: `Application::build` opens the data dir, the
//! stores and the actor directories; [`run`] serves HTTP until `shutdown` resolves, then shuts
//! down in a fixed order: leave the cluster, passivate every actor (some live on the HTTP
//! workers, so they go while the workers run), stop accepting and drain in-flight requests,
//! flush the store.

use crate::config::Config;
use crate::http::{self, ratelimit::RateLimits, tokens::Tokens};
use crate::probes::MediaTools;
use crate::state::AppState;
use actix_web::{web, HttpServer};
use anyhow::{bail, Context};
use metrics_exporter_prometheus::PrometheusHandle;
use std::future::Future;
use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use troupe_actors::accounts::{Accounts, AccountsPolicy};
use troupe_actors::channels::{Channels, ChannelsPolicy};
use troupe_actors::inbox::{Notifier, NotifierSettings};
use troupe_actors::media::jobs::JobSettings;
use troupe_actors::media::transcode::{EncodeSettings, Tools};
use troupe_actors::media::upload::UploadPolicy;
use troupe_actors::media::{Media, MediaSettings};
use troupe_actors::playback::{Playback, PlaybackSettings};
use troupe_cluster::{Cluster, ClusterConfig};
use troupe_runtime::blob::{self, BlobBackend, BlobStore, S3Settings};
use troupe_runtime::store::{ObjectStateStore, SledStore, StateStore};
use troupe_runtime::{RuntimeConfig, System};

/// A built application, ready to [`run`].
pub struct Application {
    state: web::Data<AppState>,
    /// Held for the process's life: the exclusive lock on the data dir.
    _lock: std::fs::File,
}

impl Application {
    /// What the handlers reach (for benchmarks that drive a part directly, such as
    /// `benches/webhooks.rs` producing events).
    pub fn state(&self) -> &web::Data<AppState> {
        &self.state
    }

    /// Opens everything the server needs. Must run on the main multi-thread runtime.
    pub async fn build(config: Config, metrics: PrometheusHandle) -> anyhow::Result<Self> {
        let data_dir = config.server.data_dir.clone();
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
        // A data dir created just now must still be there after a power cut: sync the entry
        // that names it (what is inside is synced by the stores that write it).
        crate::certs::sync_dir(&data_dir)?;
        let lock = lock_data_dir(&data_dir)?;
        let clustered = !config.cluster.node_name.is_empty();
        if clustered && (config.state.backend != "s3" || config.blobs.backend != "s3") {
            bail!(
                "cluster mode needs a shared store that every node reaches: set state.backend = \"s3\" and blobs.backend = \"s3\", with [blobs.s3] naming the bucket"
            );
        }
        // Before anything slow: a node that could not join its cluster says so at once.
        let cluster_tls = if clustered {
            cluster_cookie(&config)?;
            cluster_tls(&config.cluster)?
        } else {
            None
        };
        let blobs = BlobStore::open(&blob_backend(&config, &data_dir)?)
            .context("cannot open the blob store")?;
        let store = journaled(&config, open_state(&config, &data_dir)?);
        // The signing keys: configured, else the cluster's in the bucket, else this node's own.
        let configured = crate::secret::configured(&config.auth)?;
        let key_fingerprint = configured.as_deref().map(crate::keys::kid_of);
        let keyring = match &configured {
            Some(secret) => crate::keys::Keyring::single(secret),
            None if clustered => {
                let cookie = cluster_cookie(&config)?;
                crate::keys::load_or_create(blobs.object_store().as_ref(), &cookie).await?
            }
            None => crate::keys::Keyring::single(&crate::secret::local(&data_dir)?),
        };
        let runtime = RuntimeConfig {
            idle_timeout: Duration::from_secs(config.actors.idle_timeout_secs.max(1)),
            call_timeout: Duration::from_millis(config.actors.call_timeout_ms.max(1)),
            max_active: config.actors.max_active_per_kind.max(1),
        };
        let policy = AccountsPolicy {
            max_failed_logins: config.auth.max_failed_logins.max(1),
            lockout: Duration::from_secs(config.auth.lockout_secs),
            refresh_ttl: Duration::from_secs(config.auth.refresh_ttl_secs),
            admin_usernames: config.auth.admin_usernames.clone(),
            min_password_score: config.auth.min_password_score.min(4),
            require_verified_email: config.auth.require_verified_email,
            ..AccountsPolicy::default()
        };
        let system = System::new(store.clone(), runtime);
        let accounts = Accounts::start(&system, policy)
            .await
            .context("cannot start the account actors")?;
        let channels = Channels::start(
            &system,
            accounts.claims().clone(),
            ChannelsPolicy {
                max_per_user: config.channels.max_per_user.max(1),
                max_subscriptions: config.channels.max_subscriptions.max(1),
                ..ChannelsPolicy::default()
            },
        )
        .await
        .context("cannot start the channel actors")?;
        let media = Media::start(&system, blobs.clone(), media_settings(&config, &data_dir))
            .await
            .context("cannot start the video and upload actors")?;
        let playback = Playback::start(&system, media.events(), playback_settings(&config))
            .await
            .context("cannot start the session and counter actors")?;
        let comments = troupe_actors::comments::Comments::start(
            &system,
            Duration::from_millis(config.comments.events_poll_ms.max(10)),
        )
        .await
        .context("cannot start the comment actors")?;
        let catalogue = open_catalogue(&config, &data_dir, &store, media.events())?;
        let notify = Notifier::start(&system, notifier_settings(&config))
            .await
            .context("cannot start the inbox and fan-out actors")?;
        media.set_notifier(notify.clone());
        let moderation = troupe_actors::moderation::Moderation::start(
            &system,
            troupe_actors::moderation::ModerationSettings {
                poll: Duration::from_millis(config.moderation.poll_ms.max(10)),
            },
        )
        .await
        .context("cannot start the moderation actors")?;
        let outbox = troupe_actors::outbox::Outbox::start(
            &system,
            troupe_actors::outbox::OutboxSettings {
                concurrency: config.outbox.concurrency.max(1),
                per_target: config.outbox.per_target_concurrency.max(1),
                sweep: Duration::from_secs(config.outbox.sweep_secs.max(1)),
                ..Default::default()
            },
        )
        .await
        .context("cannot start the outbox")?;
        let mailer = crate::outbound::mailer(&config, &data_dir, &outbox, &keyring)?;
        let (webhooks, webhook_vetting) =
            start_webhooks(&config, &system, &outbox, &mailer, &accounts).await?;
        media.set_webhooks(webhooks.clone());
        let digests = troupe_actors::inbox::digest::Digests::start(
            &system,
            troupe_actors::inbox::digest::DigestSettings {
                every: (config.email.digest_every_secs > 0)
                    .then(|| Duration::from_secs(config.email.digest_every_secs)),
                concurrency: config.outbox.concurrency.max(1),
                sweep: Duration::from_secs(config.outbox.sweep_secs.max(1)),
            },
        )
        .await
        .context("cannot start the digests")?;
        let notification_mail = Arc::new(crate::outbound::notify::NotificationMailer {
            mailer: mailer.clone(),
            accounts: accounts.clone(),
            digests: digests.clone(),
        });
        notify.set_mail(notification_mail.clone());
        digests.set_sink(notification_mail);
        notify.set_subscriber_source(Arc::new(channels.clone()));
        // Present from the start, so that dashboards and alerts see zeros, not gaps.
        metrics::gauge!("troupe_sse_subscribers").set(0.0);
        metrics::gauge!("troupe_playback_streams_active").set(0.0);
        metrics::counter!("troupe_views_counted_total").absolute(0);
        metrics::counter!("troupe_ratings_total").absolute(0);
        let openapi_json = serde_json::to_vec_pretty(&http::openapi())?.into();
        let cluster = if clustered {
            let c = &config.cluster;
            let cookie = cluster_cookie(&config)?;
            let listen: std::net::SocketAddr = c.listen.parse().with_context(|| {
                format!("cluster.listen {:?} is not an ip:port address", c.listen)
            })?;
            let advertise = if c.advertise.is_empty() {
                c.listen.clone()
            } else {
                c.advertise.clone()
            };
            let link_listen: std::net::SocketAddr = if c.link_listen.is_empty() {
                std::net::SocketAddr::new(listen.ip(), listen.port().wrapping_add(1))
            } else {
                c.link_listen.parse().with_context(|| {
                    format!(
                        "cluster.link_listen {:?} is not an ip:port address",
                        c.link_listen
                    )
                })?
            };
            // Peers reach the link at its own IP, or at the advertised host when it listens on
            // every interface.
            let link_advertise = if !c.link_advertise.is_empty() {
                c.link_advertise.clone()
            } else if link_listen.ip().is_unspecified() {
                let host = advertise
                    .rsplit_once(':')
                    .map_or(advertise.as_str(), |(h, _)| h);
                format!("{host}:{}", link_listen.port())
            } else {
                link_listen.to_string()
            };
            let cfg = ClusterConfig {
                node_name: c.node_name.clone(),
                listen,
                advertise,
                link_listen,
                link_advertise,
                seeds: c.seeds.clone(),
                cookie,
                heartbeat: Duration::from_millis(c.heartbeat_ms.max(10)),
                failure_deadline: Duration::from_millis(c.failure_deadline_ms.max(50)),
                key_fingerprint: key_fingerprint.clone(),
                tls: cluster_tls,
            };
            let cluster = Cluster::start(cfg, system.clone()).await?;
            let cat = &config.catalogue;
            troupe_catalogue::feed::start(
                catalogue.clone(),
                blobs.clone(),
                c.node_name.clone(),
                Duration::from_millis(cat.log_interval_ms.max(10)),
                Duration::from_secs(cat.log_retention_secs.max(10)),
            );
            Some(cluster)
        } else {
            None
        };
        let state = AppState {
            tokens: Tokens::with_keys(&keyring, &config.auth),
            rate_limits: RateLimits::new(&config.rate_limit),
            account_limits: crate::http::lifecycle::AccountLimits::new(&config.auth),
            comment_limits: http::comments::CommentLimits::new(&config.comments),
            tools: MediaTools::new(&config.media.ffmpeg, &config.media.ffprobe),
            media,
            playback,
            notify,
            moderation,
            outbox,
            mailer,
            webhooks,
            webhook_vetting,
            digests,
            catalogue,
            bodies: Default::default(),
            hls_cache: http::hls::BlobCache::new(config.media.segment_cache_bytes),
            config: Arc::new(config),
            system,
            accounts,
            channels,
            comments,
            store,
            blobs,
            metrics,
            openapi_json,
            cluster,
        };
        migrate_to_channels(&state).await?;
        Ok(Self {
            state: web::Data::new(state),
            _lock: lock,
        })
    }
}

/// Starts the webhook kinds and registers the `webhook` transport with the outbox.
async fn start_webhooks(
    config: &Config,
    system: &System,
    outbox: &troupe_actors::outbox::Outbox,
    mailer: &crate::outbound::Mailer,
    accounts: &Accounts,
) -> anyhow::Result<(
    troupe_actors::webhooks::Webhooks,
    Arc<crate::outbound::webhook::Vetting>,
)> {
    let c = &config.webhooks;
    let vetting = Arc::new(crate::outbound::webhook::Vetting::new(
        &c.allowed_networks,
        c.allow_http,
    )?);
    let settings = troupe_actors::webhooks::WebhookSettings {
        schedule: c
            .schedule_secs
            .iter()
            .map(|s| Duration::from_secs(*s))
            .collect(),
        disable_after: Duration::from_secs(c.disable_after_secs),
        rotation_overlap: Duration::from_secs(c.rotation_overlap_secs),
        max_per_owner: c.max_per_owner.max(1),
    };
    let webhooks = troupe_actors::webhooks::Webhooks::start(system, outbox.clone(), settings)
        .await
        .context("cannot start the webhook actors")?;
    let transport = crate::outbound::webhook::WebhookTransport::new(
        vetting.clone(),
        Duration::from_secs(c.timeout_secs.max(1)),
        webhooks.clone(),
        mailer.clone(),
        accounts.clone(),
    )?;
    outbox.register(Arc::new(transport));
    Ok((webhooks, vetting))
}

/// The start-up migration to channels (see `troupe_actors::channels::migration`). On one node
/// with its state in sled (a local scan) its first run ends before the server listens; in a
/// cluster (whose actors answer only once the members see each other) or with the state in a
/// bucket (one request per record) it runs in the background. A run that fails (an
/// unreadable store) is logged and retried in the background with backoff, without keeping
/// the server from starting. Idempotent, so every node running it is harmless.
async fn migrate_to_channels(state: &AppState) -> anyhow::Result<()> {
    use troupe_actors::channels::migration;
    async fn once(
        store: Arc<dyn troupe_runtime::store::StateStore>,
        channels: troupe_actors::channels::Channels,
        media: troupe_actors::media::Media,
    ) -> Result<(), troupe_actors::channels::ChannelError> {
        let started = std::time::Instant::now();
        let r = migration::run(store.as_ref(), &channels, &media).await?;
        store
            .put(
                migration::DONE_MARKER,
                b"1".to_vec(),
                troupe_runtime::store::Precondition::None,
            )
            .await
            .map_err(|e| troupe_actors::channels::ChannelError::Store(e.to_string()))?;
        tracing::info!(
            accounts = r.accounts,
            channels_made = r.channels_made,
            videos = r.videos,
            videos_assigned = r.videos_assigned,
            orphans = r.orphans,
            missing_channel = r.missing_channel,
            counts_added = r.counts_added,
            counts_removed = r.counts_removed,
            nothing_to_do = r.nothing_to_do(),
            ms = started.elapsed().as_millis() as u64,
            "channel migration done"
        );
        Ok(())
    }
    let (store, channels, media) = (
        state.store.clone(),
        state.channels.clone(),
        state.media.clone(),
    );
    let local = state.cluster.is_none() && state.config.state.backend == "sled";
    if !local {
        // On a bucket every record read is a request, and every node starts: the pass runs
        // until one run has completed, which leaves this marker.
        if let Ok(Some(_)) = store.get(migration::DONE_MARKER).await {
            tracing::info!("channel migration: done before (marker present); skipped");
            return Ok(());
        }
    }
    if local {
        match once(store.clone(), channels.clone(), media.clone()).await {
            Ok(()) => return Ok(()),
            Err(e) => {
                tracing::error!(error = %e, "channel migration failed; retrying in the background")
            }
        }
    }
    tokio::spawn(async move {
        let mut backoff = Duration::from_secs(1);
        while let Err(e) = once(store.clone(), channels.clone(), media.clone()).await {
            tracing::warn!(error = %e, retry_in_secs = backoff.as_secs(), "channel migration failed; retrying");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(60));
        }
    });
    Ok(())
}

/// Opens the catalogue index under the data directory, makes it hear every change of this
/// node's actors, and brings it in line with their stored state in the background (a
/// rebuild when the index was missing or unreadable: queries answer 503 until it is done).
fn open_catalogue(
    config: &Config,
    data_dir: &Path,
    store: &Arc<dyn troupe_runtime::store::StateStore>,
    events: &troupe_actors::events::EventHub,
) -> anyhow::Result<troupe_catalogue::Catalogue> {
    let settings = catalogue_settings(config, data_dir);
    let (catalogue, fresh) = troupe_catalogue::Catalogue::open(&settings).with_context(|| {
        format!(
            "cannot open the catalogue index in {}",
            settings.dir.display()
        )
    })?;
    events.set_catalogue(Arc::new(catalogue.clone()));
    let (c, state) = (catalogue.clone(), store.clone());
    let retention = Duration::from_secs(config.catalogue.journal_retention_secs);
    tokio::spawn(async move {
        // Until it succeeds, queries answer 503 and /readyz says why: a partial or stale
        // index is never served as if it were whole.
        let mut backoff = Duration::from_secs(1);
        loop {
            match troupe_catalogue::rebuild::bring_in_line(&c, state.as_ref(), fresh, retention)
                .await
            {
                Ok(_) => break,
                Err(e) => {
                    tracing::error!(error = %e, retry_in_secs = backoff.as_secs(), "catalogue: reading the actors' state failed; retrying");
                    metrics::counter!("troupe_catalogue_rebuild_failures_total").increment(1);
                    c.set_failed(format!(
                        "reading the actors' state failed ({e}); retrying every {} s",
                        backoff.as_secs()
                    ));
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                }
            }
        }
    });
    if !retention.is_zero() {
        tokio::spawn(troupe_catalogue::journal::trim(
            store.clone(),
            retention,
            Duration::from_secs(600),
        ));
    }
    Ok(catalogue)
}

/// The state store, noting every video and counter write in the catalogue's change journal
/// unless `catalogue.journal_retention_secs` is 0.
fn journaled(config: &Config, store: Arc<dyn StateStore>) -> Arc<dyn StateStore> {
    if config.catalogue.journal_retention_secs == 0 {
        store
    } else {
        Arc::new(troupe_catalogue::journal::Journaled::new(store))
    }
}

/// The catalogue settings from the configuration.
pub fn catalogue_settings(config: &Config, data_dir: &Path) -> troupe_catalogue::Settings {
    let c = &config.catalogue;
    troupe_catalogue::Settings {
        dir: data_dir.join("catalogue"),
        commit_interval: Duration::from_millis(c.commit_interval_ms.max(10)),
        writer_memory: (c.writer_memory_mb.max(15) as usize) * 1024 * 1024,
        trending_cache: Duration::from_secs(config.playback.trending_cache_secs),
        cursor_ttl: Duration::from_secs(c.cursor_ttl_secs.max(1)),
        cursor_rankings: troupe_catalogue::RANKINGS,
        journal: c.journal_retention_secs > 0,
    }
}

/// The notification settings from the configuration.
fn notifier_settings(config: &Config) -> NotifierSettings {
    let n = &config.notifications;
    NotifierSettings {
        history: n.history.clamp(1, 10_000),
        poll: Duration::from_millis(n.events_poll_ms.max(10)),
        fanout_concurrency: n.fanout_concurrency.max(1),
        fanout_sweep: Duration::from_secs(n.fanout_sweep_secs.max(1)),
    }
}

/// The playback settings from the configuration.
fn playback_settings(config: &Config) -> PlaybackSettings {
    let p = &config.playback;
    PlaybackSettings {
        stream_timeout: Duration::from_secs(p.stream_timeout_secs.max(1)),
        heartbeat_interval: Duration::from_secs(p.heartbeat_interval_secs.max(1)),
        view_min_secs: if p.view_min_secs.is_finite() {
            p.view_min_secs.max(0.0)
        } else {
            10.0
        },
        view_dedupe: Duration::from_secs(p.view_dedupe_secs),
        max_heartbeat_gap: Duration::from_secs(p.max_heartbeat_gap_secs.max(1)),
        history_limit: p.history_limit.max(1),
        progress_flush: Duration::from_secs(p.progress_flush_secs),
        anonymous_views_per_source: p.anonymous_views_per_ip,
    }
}

/// The media settings from the configuration.
fn media_settings(config: &Config, data_dir: &Path) -> MediaSettings {
    let m = &config.media;
    let lease = Duration::from_secs(m.job_lease_secs.max(1));
    MediaSettings {
        jobs: JobSettings {
            tools: Tools {
                ffmpeg: m.ffmpeg.clone().into(),
                ffprobe: m.ffprobe.clone().into(),
            },
            encode: EncodeSettings {
                heights: m.ladder.clone(),
                segment_secs: m.segment_secs.max(1),
                preset: m.x264_preset.clone(),
                threads: m.ffmpeg_threads,
                timeout: Duration::from_secs(m.transcode_timeout_secs.max(1)),
            },
            concurrency: m.transcode_concurrency.max(1),
            probe_timeout: Duration::from_secs(60),
            report_every: lease / 3,
            tmp_dir: data_dir.join("tmp").join("transcode"),
        },
        policy: UploadPolicy {
            ttl: Duration::from_secs(m.upload_ttl_secs.max(1)),
            max_attempts: m.transcode_attempts.max(1),
            max_interruptions: 10,
            lease,
            retry_backoff: Duration::from_millis(m.transcode_retry_backoff_ms),
        },
        sweep_every: Duration::from_secs(m.sweep_interval_secs.max(1)),
        events_poll: Duration::from_millis(m.events_poll_ms.max(50)),
    }
}

/// Takes the exclusive lock on a data dir, or explains who holds it.
pub fn lock_data_dir(dir: &Path) -> anyhow::Result<std::fs::File> {
    let path = dir.join("troupe.lock");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            bail!(
                "the data dir {} is already in use by another troupe process (pid {}); stop it or use another --data-dir",
                dir.display(),
                holder.trim()
            );
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", path.display()));
        }
    }
    file.set_len(0)?;
    write!(file, "{}", std::process::id())?;
    Ok(file)
}

/// The TLS material of the cluster links (`cluster.tls_ca`, `tls_cert`, `tls_key`), or
/// `None` with `cluster.insecure = true`. Refuses a node with neither, with only some of the
/// files, or with both.
pub fn cluster_tls(
    c: &crate::config::ClusterSection,
) -> anyhow::Result<Option<troupe_cluster::ClusterTls>> {
    let files = [
        ("cluster.tls_ca", &c.tls_ca),
        ("cluster.tls_cert", &c.tls_cert),
        ("cluster.tls_key", &c.tls_key),
    ];
    let missing: Vec<&str> = files
        .iter()
        .filter(|(_, v)| v.is_empty())
        .map(|(k, _)| *k)
        .collect();
    match (missing.len(), c.insecure) {
        (3, false) => bail!(
            "the cluster links need TLS: set cluster.tls_ca, cluster.tls_cert and cluster.tls_key to PEM files, either from your own CA (node certificates must name the DNS name {}) or made with `troupe cluster certs --out DIR --nodes NAME,...`; or set cluster.insecure = true to run them as plain TCP on a network you trust (see docs/operations.md)",
            troupe_cluster::tls::SERVER_NAME
        ),
        (3, true) => Ok(None),
        (0, true) => bail!(
            "cluster.insecure = true and cluster.tls_ca, tls_cert and tls_key are all set: choose one (remove insecure to run the cluster links over TLS)"
        ),
        (0, false) => Ok(Some(
            troupe_cluster::ClusterTls::from_pem_files(
                Path::new(&c.tls_ca),
                Path::new(&c.tls_cert),
                Path::new(&c.tls_key),
                (!c.tls_crl.is_empty()).then(|| Path::new(&c.tls_crl)),
            )
            .map_err(|e| anyhow::anyhow!("cluster TLS: {e}"))?,
        )),
        _ => bail!(
            "cluster TLS needs cluster.tls_ca, cluster.tls_cert and cluster.tls_key together; {} not set",
            missing.join(" and ")
        ),
    }
}

/// The cluster cookie (`cluster.cookie`, or the contents of `cluster.cookie_file`).
pub fn cluster_cookie(config: &Config) -> anyhow::Result<String> {
    let c = &config.cluster;
    let cookie = if c.cookie_file.is_empty() {
        c.cookie.clone()
    } else {
        std::fs::read_to_string(&c.cookie_file)
            .with_context(|| format!("cannot read cluster.cookie_file {}", c.cookie_file))?
            .trim()
            .to_owned()
    };
    if cookie.is_empty() {
        bail!("cluster mode needs a cookie shared by every node: set cluster.cookie or cluster.cookie_file (make one with `troupe cluster cookie`)");
    }
    if let Some(why) = crate::config::cookie_weakness(&cookie) {
        let setting = if c.cookie_file.is_empty() {
            "cluster.cookie".to_owned()
        } else {
            format!("cluster.cookie_file ({})", c.cookie_file)
        };
        bail!("the cluster cookie in {setting} is too weak: {why}. Anyone who reads the shared bucket could guess it offline and forge tokens. Set {setting} to a fresh one from `troupe cluster cookie` on every node (see docs/operations.md, \"The cluster cookie\")");
    }
    Ok(cookie)
}

/// The `[blobs.s3]` settings, with the secret read from its file if one is named.
pub fn s3_settings(config: &Config) -> anyhow::Result<S3Settings> {
    let s3 = &config.blobs.s3;
    let secret = if s3.secret_access_key_file.is_empty() {
        s3.secret_access_key.clone()
    } else {
        std::fs::read_to_string(&s3.secret_access_key_file)
            .with_context(|| {
                format!(
                    "cannot read blobs.s3.secret_access_key_file {}",
                    s3.secret_access_key_file
                )
            })?
            .trim()
            .to_owned()
    };
    Ok(S3Settings {
        endpoint: s3.endpoint.clone(),
        bucket: s3.bucket.clone(),
        region: s3.region.clone(),
        access_key_id: s3.access_key_id.clone(),
        secret_access_key: secret,
        path_style: s3.path_style,
    })
}

fn blob_backend(config: &Config, data_dir: &Path) -> anyhow::Result<BlobBackend> {
    match config.blobs.backend.as_str() {
        "local" => Ok(BlobBackend::Local {
            root: blob::local_root(data_dir),
        }),
        "s3" => Ok(BlobBackend::S3(s3_settings(config)?)),
        other => bail!("blobs.backend is {other:?}; it must be \"local\" or \"s3\""),
    }
}

/// Serves HTTP on `listener` until `shutdown` resolves, then shuts down gracefully.
pub async fn run(
    listener: TcpListener,
    app: Application,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let state = app.state.clone();
    let cfg = state.config.clone();
    if cfg.email.public_url.is_empty() {
        // No public URL configured: links in mail point at the address troupe listens on.
        state
            .mailer
            .set_public_url(format!("http://{}", listener.local_addr()?));
    }
    let factory_state = state.clone();
    let homes = cfg.actors.on_http_workers;
    // Runs once on each worker thread. A worker runs until the server stops, which `run` does
    // only after passivating every actor, so it can be a home for actors.
    let mut server = HttpServer::new(move || {
        if homes {
            troupe_runtime::make_this_thread_an_actor_home();
        }
        http::app(factory_state.clone())
    })
    .disable_signals()
    .shutdown_timeout(cfg.server.shutdown_timeout_secs)
    // Without TCP_NODELAY a response written in two pieces waits for the client's
    // delayed ACK, 40 ms per keep-alive request (research/http-serving.md).
    .on_connect(|conn, _| {
        if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
            let _ = tcp.set_nodelay(true);
        }
    });
    if cfg.server.workers > 0 {
        server = server.workers(cfg.server.workers);
    }
    let server = server.listen(listener)?.run();
    let handle = server.handle();
    // Started once the node can reach the set's owner (in a cluster, after joining).
    let suspensions = state.moderation.watch();
    let tidy_state = state.clone();
    let tidy = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        for n in 0u64.. {
            tick.tick().await;
            // Histograms keep raw samples until upkeep folds them into buckets; without this,
            // memory grows with every request unless something scrapes /metrics.
            tidy_state.metrics.run_upkeep();
            if n % 12 == 0 {
                tidy_state.rate_limits.tidy();
                tidy_state.account_limits.tidy();
                tidy_state.comment_limits.tidy();
            }
        }
    });
    // Accounts whose deletion grace period is over are deleted by the node that owns them.
    let deletions = {
        let state = state.clone();
        let every = Duration::from_secs(cfg.auth.deletion_sweep_secs.max(1));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                crate::http::purge::sweep(&state).await;
                crate::http::export::sweep(&state).await;
            }
        })
    };
    // Data exports left pending by a crash are prepared again by the node that owns them.
    tokio::spawn(crate::http::export::resume(state.clone()));
    // In a cluster whose keys live in the bucket, every node reloads them, so that a rotated
    // key is known everywhere before anyone signs with it.
    let keyring = match (&state.cluster, crate::secret::configured(&cfg.auth)) {
        (Some(_), Ok(None)) => {
            let (state, cookie) = (state.clone(), cluster_cookie(&cfg)?);
            let every = Duration::from_secs(cfg.auth.keyring_refresh_secs.max(1));
            Some(tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let store = state.blobs.object_store().clone();
                    match crate::keys::read(store.as_ref(), &cookie).await {
                        Ok(Some((keyring, _))) => state.tokens.set_keys(&keyring),
                        Ok(None) => tracing::error!("the cluster's signing keys are gone from the bucket; keeping the ones this node has"),
                        Err(e) => tracing::warn!(error = %e, "cannot reload the cluster's signing keys; keeping the ones this node has"),
                    }
                }
            }))
        }
        _ => None,
    };
    let mut server = std::pin::pin!(server);
    tokio::select! {
        result = &mut server => {
            result.context("the HTTP server stopped")?;
        }
        () = shutdown => {
            if let Some(cluster) = &state.cluster {
                // First hand this node's actors to the others, so that requests in flight
                // and new ones go to their new owners while this node drains.
                cluster.leave().await;
            }
            // Actors may live on the HTTP workers (`actors.on_http_workers`): passivate them
            // while the workers still run. Requests that arrive meanwhile are served by the
            // actors still active, forwarded to their new owners in a cluster, or answered 503
            // with Retry-After; none waits in a listen queue that nobody serves.
            tracing::info!("shutdown: passivating actors");
            state
                .system
                .shutdown(Duration::from_secs(cfg.server.shutdown_timeout_secs))
                .await;
            tracing::info!("shutdown: no longer accepting connections; draining in-flight requests");
            // The stop command is carried out by the server future itself, so poll both.
            let (_, result) = tokio::join!(handle.stop(true), server);
            result.context("the HTTP server failed while draining")?;
        }
    }
    tidy.abort();
    deletions.abort();
    suspensions.abort();
    if let Some(k) = keyring {
        k.abort();
    }
    if let Some(cluster) = &state.cluster {
        cluster.shutdown().await;
    }
    state
        .store
        .flush()
        .await
        .context("final flush of the state store failed")?;
    tracing::info!("shutdown complete");
    Ok(())
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("install SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// `troupe serve`: builds the runtime and the application, binds, prints the address, runs.
pub fn serve(config: Config) -> anyhow::Result<()> {
    // Held to the end: dropping it writes the log lines still queued.
    let _log = crate::telemetry::init_tracing(&config.log);
    let metrics = crate::telemetry::init_metrics();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name("troupe-actors")
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listen = config.server.listen.clone();
        let app = Application::build(config, metrics).await?;
        let listener =
            TcpListener::bind(&listen).with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        tracing::info!(%addr, "troupe listening");
        println!("troupe listening on http://{addr}");
        std::io::stdout().flush()?;
        run(listener, app, shutdown_signal()).await
    })
}

/// `troupe keys rotate`: adds a signing key to the cluster's keyring in the shared bucket.
pub fn rotate_keys(config: Config) -> anyhow::Result<()> {
    if crate::secret::configured(&config.auth)?.is_some() {
        bail!("a configured key (auth.jwt_secret or auth.jwt_secret_file) wins over the cluster's keys in the bucket; rotate it by changing the configuration of every node");
    }
    let cookie = cluster_cookie(&config)?;
    let bucket = BlobStore::open(&BlobBackend::S3(s3_settings(&config)?))
        .context("cannot open the shared bucket ([blobs.s3])")?;
    let activate_in = Duration::from_secs(2 * config.auth.keyring_refresh_secs.max(1));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let kid = runtime.block_on(crate::keys::rotate(
        bucket.object_store().as_ref(),
        &cookie,
        activate_in,
    ))?;
    println!(
        "added signing key {kid}: every node signs new tokens with it in {} s (once all have loaded it); tokens signed with older keys keep verifying until they expire",
        activate_in.as_secs()
    );
    Ok(())
}

/// `troupe cluster forget NAME`: records in the shared store that a member is gone for good.
pub fn forget_member(config: Config, name: &str) -> anyhow::Result<()> {
    if config.state.backend != "s3" {
        bail!(
            "troupe cluster forget works on a cluster's shared store: state.backend must be \"s3\""
        );
    }
    let bucket = BlobStore::open(&BlobBackend::S3(s3_settings(&config)?))
        .context("cannot open the shared bucket ([blobs.s3])")?;
    let store = ObjectStateStore::new(bucket.object_store().clone(), "state");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(troupe_cluster::membership::write_forgotten(&store, |f| {
        f.entry(name.to_owned()).or_default();
    }))?;
    println!("asked the cluster to forget {name}: every node stops counting it toward the majority within about 2 s, unless it is up");
    Ok(())
}

/// Opens the state store the configuration names.
fn open_state(config: &Config, data_dir: &Path) -> anyhow::Result<Arc<dyn StateStore>> {
    Ok(match config.state.backend.as_str() {
        "sled" => {
            Arc::new(SledStore::open(&data_dir.join("state")).with_context(|| {
                format!("cannot open the state store in {}", data_dir.display())
            })?)
        }
        "s3" => {
            let bucket = BlobStore::open(&BlobBackend::S3(s3_settings(config)?))
                .context("cannot open the S3 state store")?;
            Arc::new(ObjectStateStore::new(
                bucket.object_store().clone(),
                "state",
            ))
        }
        other => bail!("state.backend is {other:?}; it must be \"sled\" or \"s3\""),
    })
}

/// `troupe reindex`: throws the catalogue index away and builds it again from the video
/// actors' stored state, with progress on stderr. The server must be stopped (the data
/// directory is locked while it runs).
pub fn reindex(config: Config) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let data_dir = config.server.data_dir.clone();
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
        let _lock = lock_data_dir(&data_dir)?;
        let store = open_state(&config, &data_dir)?;
        let settings = catalogue_settings(&config, &data_dir);
        if settings.dir.exists() {
            std::fs::remove_dir_all(&settings.dir).with_context(|| {
                format!("cannot remove the old index in {}", settings.dir.display())
            })?;
        }
        let started = std::time::Instant::now();
        let (catalogue, _) = troupe_catalogue::Catalogue::open(&settings)
            .with_context(|| format!("cannot create the index in {}", settings.dir.display()))?;
        troupe_catalogue::rebuild::reconcile(&catalogue, store.as_ref(), true)
            .await
            .map_err(|e| anyhow::anyhow!("cannot read the actors' state: {e}"))?;
        println!(
            "reindexed {} videos into {} in {:.1} s",
            catalogue.len(),
            settings.dir.display(),
            started.elapsed().as_secs_f64()
        );
        Ok(())
    })
}

/// `troupe migrate`: copies the data dir into the shared store and prints what it did.
pub fn migrate(config: Config, to: &str) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(crate::migrate::run(&config, to))?;
    println!(
        "migrated {} into {to}: {} state entries copied, {} already there, {} blobs ({} bytes) copied",
        config.server.data_dir.display(),
        report.state_copied,
        report.state_skipped,
        report.blobs_copied,
        report.blob_bytes
    );
    match report.signing_key {
        Some(true) => println!("the one-node signing key is in the cluster's keyring: tokens issued before the migration keep working"),
        Some(false) => eprintln!("troupe: the one-node signing key was not carried over (no cluster.cookie to seal it with): set the cluster's cookie and run migrate again, or tokens issued before the migration will not open the cluster"),
        None => {}
    }
    Ok(())
}
