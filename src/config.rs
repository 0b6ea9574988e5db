//! Configuration, layered: compiled defaults, then `config/default.toml` (if present in the
//! working directory), then the optional `--config` file, then `TROUPE__SECTION__KEY`
//! environment variables, then command-line flags. `config/default.toml` documents every key;
//! a test checks that it says exactly what the compiled defaults say.

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use troupe_actors::accounts::Plan;

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// HTTP server and data directory.
    pub server: ServerConfig,
    /// Logging.
    pub log: LogConfig,
    /// The virtual-actor runtime.
    pub actors: ActorsConfig,
    /// Accounts and tokens.
    pub auth: AuthConfig,
    /// Request rate limits.
    pub rate_limit: RateLimitConfig,
    /// Where blobs (uploads, segments) are kept.
    pub blobs: BlobsConfig,
    /// External media tools.
    pub media: MediaConfig,
    /// Playback sessions, views and ratings.
    pub playback: PlaybackConfig,
    /// Where actor state is kept.
    pub state: StateConfig,
    /// Cluster membership.
    pub cluster: ClusterSection,
    /// The catalogue index (listing, search, trending).
    pub catalogue: CatalogueConfig,
    /// Notifications: inboxes, live streams, fan-outs.
    pub notifications: NotificationsConfig,
    /// Channels and subscriptions.
    pub channels: ChannelsConfig,
    /// Comments: anti-spam and held-for-review rules.
    pub comments: CommentsConfig,
    /// Moderation: suspensions, reports, the audit log.
    pub moderation: ModerationConfig,
    /// Webhooks: retries, SSRF rules, secrets.
    pub webhooks: WebhooksConfig,
    /// Email: the SMTP server (or `.eml` files), the sender, links, DKIM, digests.
    pub email: EmailConfig,
    /// The outbox: background delivery of email and webhook calls.
    pub outbox: OutboxConfig,
}

/// `[webhooks]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Networks (CIDRs) exempt from the SSRF rules, such as `["127.0.0.0/8"]` for tests or
    /// an internal receiver the operator trusts. Empty: every internal address is refused.
    pub allowed_networks: Vec<String>,
    /// Whether plain `http://` targets are allowed (else only `https://`).
    pub allow_http: bool,
    /// The delays before each retry, in seconds (Svix's schedule).
    pub schedule_secs: Vec<u64>,
    /// How long one attempt may take, connecting included (s).
    pub timeout_secs: u64,
    /// How long an endpoint may fail without a success before it is disabled and its owner
    /// emailed (s).
    pub disable_after_secs: u64,
    /// How long the previous secret still signs after a rotation (s).
    pub rotation_overlap_secs: u64,
    /// Most endpoints per user, and instance-wide.
    pub max_per_owner: usize,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            allowed_networks: Vec::new(),
            allow_http: false,
            schedule_secs: vec![5, 300, 1_800, 7_200, 18_000, 36_000, 36_000],
            timeout_secs: 15,
            disable_after_secs: 5 * 86_400,
            rotation_overlap_secs: 86_400,
            max_per_owner: 20,
        }
    }
}

/// `[email]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailConfig {
    /// `smtp://host:port` (plain, or STARTTLS with `?tls=required`) or
    /// `smtps://user:pass@host:465` (implicit TLS). Empty: messages are written as `.eml`
    /// files under `<data_dir>/mail/` and the log names each file.
    pub smtp_url: String,
    /// The `From` address.
    pub from: String,
    /// The base of every link in mail (`https://video.example.org`). Empty: the address
    /// troupe listens on (`http://127.0.0.1:<port>`), for a one-node install.
    pub public_url: String,
    /// The instance's name, as mail shows it.
    pub instance_name: String,
    /// DKIM selector; with `dkim_domain` and `dkim_key_file`, troupe signs every message,
    /// List-Unsubscribe included (RFC 8058). Empty: no signing (the relay may sign).
    pub dkim_selector: String,
    /// DKIM signing domain (`d=`).
    pub dkim_domain: String,
    /// The DKIM private key: an RSA PKCS#1 PEM file, or a file holding a base64 Ed25519 seed.
    pub dkim_key_file: String,
    /// SMTP command timeout, in seconds.
    pub timeout_secs: u64,
    /// The delays before each retry of an email that could not be sent, in seconds; when they
    /// are used up it fails for good (a `warn` log line, `troupe_outbox_failed_total`).
    pub retry_schedule_secs: Vec<u64>,
    /// Digests: 0 (the default) sends each user's digest once a day at their hour in their
    /// time zone; N > 0 sends each user's pending notifications N seconds after the first of
    /// them arrived instead (for tests and demonstrations only).
    pub digest_every_secs: u64,
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self {
            smtp_url: String::new(),
            from: "troupe <troupe@localhost>".into(),
            public_url: String::new(),
            instance_name: "troupe".into(),
            dkim_selector: String::new(),
            dkim_domain: String::new(),
            dkim_key_file: String::new(),
            timeout_secs: 30,
            retry_schedule_secs: crate::outbound::EMAIL_SCHEDULE_SECS.to_vec(),
            digest_every_secs: 0,
        }
    }
}

/// `[outbox]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboxConfig {
    /// Delivery attempts (emails, webhook calls) under way at once on a node.
    pub concurrency: usize,
    /// How many of them may go to one target (a webhook endpoint, an address) at once: due
    /// deliveries to a target at this limit wait for one of its attempts to end, so a slow
    /// or failing endpoint cannot take every attempt of the node.
    pub per_target_concurrency: usize,
    /// How often every node rebuilds its schedule of due deliveries from the store, in
    /// seconds (and at start): a node that left has its deliveries taken over within this.
    pub sweep_secs: u64,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            concurrency: 256,
            per_target_concurrency: 64,
            sweep_secs: 30,
        }
    }
}

/// `[comments]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CommentsConfig {
    /// Comments one user may post per minute, on average (token bucket).
    pub rate_per_minute: u32,
    /// How many comments one user may post at once before the rate applies.
    pub burst: u32,
    /// The same text by the same user on the same video within this long is refused (409).
    pub duplicate_window_secs: u64,
    /// Whether comments with a link are held for review.
    pub hold_links: bool,
    /// Accounts younger than this are "new": on a channel with `hold_new_accounts`, their
    /// comments are held for review.
    pub new_account_age_secs: u64,
    /// How often a video's live stream reads its comments when they live on another node (ms).
    pub events_poll_ms: u64,
}

impl Default for CommentsConfig {
    fn default() -> Self {
        Self {
            rate_per_minute: 10,
            burst: 3,
            duplicate_window_secs: 600,
            hold_links: true,
            new_account_age_secs: 86_400,
            events_poll_ms: 500,
        }
    }
}

/// `[moderation]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModerationConfig {
    /// How often every node asks whether the set of suspended accounts changed, in ms: a
    /// suspension made on one node takes effect on the others within this long.
    pub poll_ms: u64,
}

impl Default for ModerationConfig {
    fn default() -> Self {
        Self { poll_ms: 250 }
    }
}

/// `[notifications]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationsConfig {
    /// How many notifications each inbox keeps; older ones are dropped first (1-10,000).
    pub history: u64,
    /// How often a live stream's node reads an inbox that lives on another node, in ms.
    pub events_poll_ms: u64,
    /// How many inbox deliveries one fan-out has under way at once.
    pub fanout_concurrency: usize,
    /// How often every node resumes the unfinished fan-outs it owns, in seconds (and at start).
    pub fanout_sweep_secs: u64,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        Self {
            history: 1_000,
            events_poll_ms: 500,
            fanout_concurrency: 64,
            fanout_sweep_secs: 30,
        }
    }
}

/// `[channels]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChannelsConfig {
    /// Most channels one user may own, the default channel included.
    pub max_per_user: u32,
    /// Most channels one user may subscribe to.
    pub max_subscriptions: u32,
}

impl Default for ChannelsConfig {
    fn default() -> Self {
        Self {
            max_per_user: 10,
            max_subscriptions: 5_000,
        }
    }
}

/// `[catalogue]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogueConfig {
    /// How often the index commits what changed, in ms: a change is searchable within about
    /// this long (plus `log_interval_ms` twice when it comes from another node).
    pub commit_interval_ms: u64,
    /// The index writer's memory budget, in MiB (at least 15).
    pub writer_memory_mb: u64,
    /// In a cluster: how often each node ships its changes to the bucket and reads the
    /// other nodes' changes, in ms.
    pub log_interval_ms: u64,
    /// In a cluster: how long shipped changes stay in the bucket, in seconds.
    pub log_retention_secs: u64,
    /// How long a ranked cursor (search by relevance or views) stays good after the page
    /// that gave it, in seconds; then 410 `cursor_expired`.
    pub cursor_ttl_secs: u64,
    /// How long the change journal keeps its notes of video and counter writes, in seconds:
    /// a node whose index was last committed within this (less two minutes) catches up from
    /// the notes at start; one away longer reads every video. 0 turns the journal off (no
    /// note is written; every start reads every video).
    pub journal_retention_secs: u64,
}

impl Default for CatalogueConfig {
    fn default() -> Self {
        Self {
            commit_interval_ms: 250,
            writer_memory_mb: 50,
            log_interval_ms: 200,
            log_retention_secs: 600,
            cursor_ttl_secs: 600,
            journal_retention_secs: 172_800,
        }
    }
}

/// `[state]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StateConfig {
    /// `sled` (embedded, one node) or `s3` (the `[blobs.s3]` bucket under `state/`; required
    /// in a cluster).
    pub backend: String,
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            backend: "sled".into(),
        }
    }
}

/// `[cluster]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterSection {
    /// This node's unique name; setting it (or `--node-name`) turns cluster mode on.
    pub node_name: String,
    /// Address of this node's cluster listener (ractor_cluster), e.g. `10.0.0.5:7946`.
    pub listen: String,
    /// The address peers use to reach this node; empty means `listen`.
    pub advertise: String,
    /// Where forwarded requests arrive (the forwarding link); empty means `listen`'s IP with
    /// its port + 1.
    pub link_listen: String,
    /// The address peers use to reach the forwarding link; empty means `link_listen` (or,
    /// when that listens on every interface, the `advertise` host with its port).
    pub link_advertise: String,
    /// Cluster addresses of nodes to join through.
    pub seeds: Vec<String>,
    /// Shared secret every node must present (or use `cookie_file`).
    pub cookie: String,
    /// A file holding the cookie.
    pub cookie_file: String,
    /// Heartbeat period, in milliseconds.
    pub heartbeat_ms: u64,
    /// A peer silent for this long is down, in milliseconds.
    pub failure_deadline_ms: u64,
    /// PEM file of the cluster CA's certificate: peers' certificates must be signed by it.
    pub tls_ca: String,
    /// PEM file of this node's certificate (signed by the CA, naming `troupe-cluster`).
    pub tls_cert: String,
    /// PEM file of this node's private key.
    pub tls_key: String,
    /// PEM file of revoked node certificates (optional; `troupe cluster certs --revoke`).
    pub tls_crl: String,
    /// Run the cluster links as plain TCP, without TLS (only on a network you trust).
    pub insecure: bool,
}

impl Default for ClusterSection {
    fn default() -> Self {
        Self {
            node_name: String::new(),
            listen: "127.0.0.1:7946".into(),
            advertise: String::new(),
            link_listen: String::new(),
            link_advertise: String::new(),
            seeds: Vec::new(),
            cookie: String::new(),
            cookie_file: String::new(),
            heartbeat_ms: 250,
            failure_deadline_ms: 1500,
            tls_ca: String::new(),
            tls_cert: String::new(),
            tls_key: String::new(),
            tls_crl: String::new(),
            insecure: false,
        }
    }
}

/// `[server]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: String,
    /// Directory for the state database, blobs and the signing secret.
    pub data_dir: PathBuf,
    /// HTTP worker threads; 0 means one per CPU core.
    pub workers: usize,
    /// Largest accepted JSON request body, in bytes.
    pub max_json_bytes: usize,
    /// How long graceful shutdown waits for in-flight requests, in seconds.
    pub shutdown_timeout_secs: u64,
    /// Take the client address from `X-Forwarded-For`/`Forwarded` (only behind a trusted proxy).
    pub trust_forwarded_headers: bool,
    /// Compress text answers (JSON, playlists, the console) with gzip or brotli when the
    /// client accepts it (`src/http/compress.rs`).
    pub compression: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            workers: 0,
            max_json_bytes: 64 * 1024,
            shutdown_timeout_secs: 30,
            trust_forwarded_headers: false,
            compression: true,
        }
    }
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `json` (one JSON object per line) or `pretty`.
    pub format: String,
    /// A tracing filter, e.g. `info` or `troupe=debug,info`. `RUST_LOG` overrides it.
    pub level: String,
    /// Log one line per HTTP request (health probes and metrics scrapes excluded).
    pub access_log: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: "json".into(),
            level: "info".into(),
            access_log: true,
        }
    }
}

/// `[actors]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ActorsConfig {
    /// An actor idle this long is passivated (its state is already durable), in seconds.
    pub idle_timeout_secs: u64,
    /// How long a request waits for an actor's answer, in milliseconds.
    pub call_timeout_ms: u64,
    /// The most live activations of one kind on this node; the least recently used are
    /// passivated early beyond it. Bounds memory (10-30 KiB per activation).
    pub max_active_per_kind: usize,
    /// Actors activated by an HTTP request run on the HTTP worker thread that handled it, so
    /// that requests on that worker reach them without a thread hand-off. Off: every actor
    /// runs on the shared actor runtime.
    pub on_http_workers: bool,
}

impl Default for ActorsConfig {
    fn default() -> Self {
        Self {
            idle_timeout_secs: 300,
            call_timeout_ms: 5000,
            max_active_per_kind: 20_000,
            on_http_workers: true,
        }
    }
}

/// `[auth]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// The HMAC key that signs tokens. Empty: read `jwt_secret_file`, else use (or create)
    /// `<data_dir>/jwt-secret`.
    pub jwt_secret: String,
    /// A file holding the signing key.
    pub jwt_secret_file: String,
    /// The `iss` claim of our tokens.
    pub issuer: String,
    /// The `aud` claim of access tokens (refresh tokens use `<audience>/refresh`).
    pub audience: String,
    /// Access-token lifetime, in seconds.
    pub access_ttl_secs: u64,
    /// Refresh-token family lifetime (how long a login lasts), in seconds.
    pub refresh_ttl_secs: u64,
    /// Failed logins in a row that lock an account.
    pub max_failed_logins: u32,
    /// How long a locked account stays locked, in seconds.
    pub lockout_secs: u64,
    /// Usernames that are admins. Empty: the first registered user is admin.
    pub admin_usernames: Vec<String>,
    /// Minimum zxcvbn score (0-4) of a new password.
    pub min_password_score: u8,
    /// In a cluster whose keys live in the shared bucket: how often each node reloads them,
    /// in seconds. A key added by `troupe keys rotate` signs from twice this long after.
    pub keyring_refresh_secs: u64,
    /// Whether an account must verify its address before it may sign in (403
    /// `email_not_verified` until then). Off by default, so a one-node install without mail
    /// works; admins can mark an address verified.
    pub require_verified_email: bool,
    /// Password-reset requests per client address per hour (more: 429).
    pub reset_per_ip_per_hour: u32,
    /// Password-reset mails per address per hour (more are silently not sent).
    pub reset_per_address_per_hour: u32,
    /// Verification mails one signed-in user may ask for again per hour (more: 429).
    pub verify_resend_per_hour: u32,
    /// How long after a user asks for their account's deletion it happens, in seconds
    /// (signing in before then cancels it).
    pub deletion_grace_secs: u64,
    /// How long a deleted account's username stays taken, in seconds.
    pub username_hold_secs: u64,
    /// How often each node looks for accounts whose deletion is due, in seconds (the same
    /// sweep deletes expired data exports).
    pub deletion_sweep_secs: u64,
    /// How long a data export can be downloaded, in seconds; then its archive is deleted.
    pub export_ttl_secs: u64,
    /// The least time between two data exports of one account, in seconds (sooner: 429
    /// `export_rate_limited`; a failed export does not count).
    pub export_interval_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_secret: String::new(),
            jwt_secret_file: String::new(),
            issuer: "troupe".into(),
            audience: "troupe-api".into(),
            access_ttl_secs: 900,
            refresh_ttl_secs: 30 * 24 * 3600,
            max_failed_logins: 5,
            lockout_secs: 900,
            admin_usernames: Vec::new(),
            min_password_score: 2,
            keyring_refresh_secs: 10,
            require_verified_email: false,
            reset_per_ip_per_hour: 10,
            reset_per_address_per_hour: 3,
            verify_resend_per_hour: 3,
            deletion_grace_secs: 7 * 24 * 3600,
            username_hold_secs: 30 * 24 * 3600,
            deletion_sweep_secs: 60,
            export_ttl_secs: 7 * 24 * 3600,
            export_interval_secs: 24 * 3600,
        }
    }
}

/// `[rate_limit]`: token buckets per client address and per user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Turn rate limiting on.
    pub enabled: bool,
    /// Sustained requests per second per client address.
    pub per_ip_per_sec: u32,
    /// Burst per client address.
    pub per_ip_burst: u32,
    /// Sustained requests per second per signed-in user.
    pub per_user_per_sec: u32,
    /// Burst per signed-in user.
    pub per_user_burst: u32,
    /// Sustained requests per minute per client address on `/api/v1/auth/*`.
    pub auth_per_ip_per_min: u32,
    /// Burst per client address on `/api/v1/auth/*`.
    pub auth_per_ip_burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            per_ip_per_sec: 50,
            per_ip_burst: 100,
            per_user_per_sec: 20,
            per_user_burst: 60,
            auth_per_ip_per_min: 20,
            auth_per_ip_burst: 10,
        }
    }
}

/// `[blobs]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlobsConfig {
    /// `local` (under `<data_dir>/blobs`) or `s3`.
    pub backend: String,
    /// S3 settings, used when `backend = "s3"`.
    pub s3: S3Config,
}

impl Default for BlobsConfig {
    fn default() -> Self {
        Self {
            backend: "local".into(),
            s3: S3Config::default(),
        }
    }
}

/// `[blobs.s3]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// Endpoint URL; empty means AWS.
    pub endpoint: String,
    /// Bucket.
    pub bucket: String,
    /// Region.
    pub region: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key (or use `secret_access_key_file`).
    pub secret_access_key: String,
    /// A file holding the secret access key.
    pub secret_access_key_file: String,
    /// Path-style addressing (`endpoint/bucket/key`), as MinIO and moto need.
    pub path_style: bool,
}

impl Default for S3Config {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            bucket: String::new(),
            region: "us-east-1".into(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            secret_access_key_file: String::new(),
            path_style: true,
        }
    }
}

/// `[media]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaConfig {
    /// The ffmpeg binary (a name on PATH or a path).
    pub ffmpeg: String,
    /// The ffprobe binary.
    pub ffprobe: String,
    /// Largest accepted upload, in bytes (tus `Tus-Max-Size`).
    pub max_upload_bytes: u64,
    /// An unfinished upload expires this long after its last PATCH, in seconds.
    pub upload_ttl_secs: u64,
    /// Upload bytes are written to the blob store in parts of this size (S3 needs ≥ 5 MiB).
    pub upload_part_bytes: usize,
    /// Transcodes run at once on a node.
    pub transcode_concurrency: usize,
    /// A transcode (one ffmpeg run) is killed after this long, in seconds.
    pub transcode_timeout_secs: u64,
    /// Failed transcode runs before a video fails for good.
    pub transcode_attempts: u32,
    /// Backoff after the first failed run, in milliseconds; doubled after each.
    pub transcode_retry_backoff_ms: u64,
    /// A run reports at least every third of this; after it, another node may take the job
    /// over, in seconds.
    pub job_lease_secs: u64,
    /// How often the sweeper expires uploads, deletes finished ones' bytes and resumes lost
    /// jobs, in seconds.
    pub sweep_interval_secs: u64,
    /// The HLS ladder: rendition heights, capped at the source's.
    pub ladder: Vec<u32>,
    /// Target HLS segment length, in seconds.
    pub segment_secs: u32,
    /// x264 preset (`ultrafast` … `veryslow`).
    pub x264_preset: String,
    /// ffmpeg `-threads`; 0 lets ffmpeg choose.
    pub ffmpeg_threads: u32,
    /// Lifetime of a playback token, in seconds.
    pub playback_token_ttl_secs: u64,
    /// Memory for hot HLS segments and playlists, in bytes (0 turns the cache off).
    pub segment_cache_bytes: u64,
    /// How often a node polls a video that its event subscribers watch, in milliseconds.
    pub events_poll_ms: u64,
    /// How often an idle event stream gets a keep-alive comment, in milliseconds. A client
    /// that closed its stream is noticed (and its subscription dropped) within two of these.
    pub events_keepalive_ms: u64,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            ffmpeg: "ffmpeg".into(),
            ffprobe: "ffprobe".into(),
            max_upload_bytes: 10 * 1024 * 1024 * 1024,
            upload_ttl_secs: 86_400,
            upload_part_bytes: 8 * 1024 * 1024,
            transcode_concurrency: 1,
            transcode_timeout_secs: 7_200,
            transcode_attempts: 3,
            transcode_retry_backoff_ms: 5_000,
            job_lease_secs: 30,
            sweep_interval_secs: 30,
            ladder: vec![240, 360, 480, 720, 1080, 1440, 2160],
            segment_secs: 4,
            x264_preset: "veryfast".into(),
            ffmpeg_threads: 0,
            playback_token_ttl_secs: 600,
            segment_cache_bytes: 256 * 1024 * 1024,
            events_poll_ms: 500,
            events_keepalive_ms: 1_500,
        }
    }
}

/// `[playback]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlaybackConfig {
    /// A stream without a heartbeat for this long ends and frees its slot, in seconds.
    pub stream_timeout_secs: u64,
    /// How often players are asked to send heartbeats, in seconds.
    pub heartbeat_interval_secs: u64,
    /// Watched seconds after which a view counts (or half the video, when shorter).
    pub view_min_secs: f64,
    /// A viewer counts at most one view per video within this window, in seconds.
    pub view_dedupe_secs: u64,
    /// The most watched time one gap between heartbeats can add, in seconds.
    pub max_heartbeat_gap_secs: u64,
    /// How many videos a viewer's watch history keeps.
    pub history_limit: usize,
    /// Positions from heartbeats, and counters' sums (derived from the durable tallies), are
    /// written within this long, in seconds (each actor after a random half to all of it).
    /// Trending and listings trail by as much.
    pub progress_flush_secs: u64,
    /// How long a computed trending list is reused, in seconds (0: never).
    pub trending_cache_secs: u64,
    /// Where the `upgrade` action of a refused stream points clients.
    pub upgrade_url: String,
    /// The plan whose tallest rendition anonymous viewers (no account) get.
    pub anonymous_plan: Plan,
    /// At most this many distinct anonymous devices from one client address count a view of
    /// one video within `view_dedupe_secs`, so rotating device ids inflates nothing.
    pub anonymous_views_per_ip: u32,
}

impl Default for PlaybackConfig {
    fn default() -> Self {
        Self {
            stream_timeout_secs: 120,
            heartbeat_interval_secs: 10,
            view_min_secs: 10.0,
            view_dedupe_secs: 3_600,
            max_heartbeat_gap_secs: 30,
            history_limit: 500,
            progress_flush_secs: 5,
            trending_cache_secs: 10,
            upgrade_url: "/account/plan".into(),
            anonymous_plan: Plan::Free,
            anonymous_views_per_ip: 3,
        }
    }
}

/// Command-line values that override every other source.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Overrides {
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--listen`.
    pub listen: Option<String>,
    /// `--node-name`.
    pub node_name: Option<String>,
    /// `--cluster-listen`.
    pub cluster_listen: Option<String>,
    /// `--seeds`.
    pub seeds: Option<Vec<String>>,
}

/// The first `TROUPE__` environment variable whose value figment (0.10.19) would misread: it
/// unescapes a quoted string by slicing it at a character count as if it were a byte offset,
/// so a backslash escape after non-ASCII text inside quotes panics (found by a property test)
/// or silently drops characters. Conservative: any backslash after a quote and non-ASCII text.
fn env_misread_by_figment() -> Option<String> {
    std::env::vars_os().find_map(|(k, v)| {
        let name = k.to_string_lossy().trim().to_ascii_uppercase();
        if !name.starts_with("TROUPE__") {
            return None;
        }
        let (mut quoted, mut wide) = (false, false);
        for c in v.to_string_lossy().chars() {
            match c {
                '"' => quoted = true,
                '\\' if quoted && wide => return Some(name),
                c if quoted && !c.is_ascii() => wide = true,
                _ => {}
            }
        }
        None
    })
}

/// Loads the configuration from every layer.
pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, Box<figment::Error>> {
    let mut fig = Figment::from(Serialized::defaults(Config::default()));
    if Path::new("config/default.toml").is_file() {
        fig = fig.merge(Toml::file("config/default.toml"));
    }
    if let Some(file) = file {
        if !file.is_file() {
            return Err(Box::new(figment::Error::from(format!(
                "config file {} does not exist",
                file.display()
            ))));
        }
        fig = fig.merge(Toml::file(file));
    }
    if let Some(name) = env_misread_by_figment() {
        return Err(Box::new(figment::Error::from(format!(
            "the environment variable {name} has a backslash escape inside a quoted string after non-ASCII text, which the configuration parser misreads; write the characters themselves instead of escapes, or set it in a TOML file"
        ))));
    }
    fig = fig.merge(Env::prefixed("TROUPE__").split("__"));
    if let Some(d) = &overrides.data_dir {
        fig = fig.merge(Serialized::default("server.data_dir", d));
    }
    if let Some(l) = &overrides.listen {
        fig = fig.merge(Serialized::default("server.listen", l));
    }
    if let Some(n) = &overrides.node_name {
        fig = fig.merge(Serialized::default("cluster.node_name", n));
    }
    if let Some(l) = &overrides.cluster_listen {
        fig = fig.merge(Serialized::default("cluster.listen", l));
    }
    if let Some(s) = &overrides.seeds {
        fig = fig.merge(Serialized::default("cluster.seeds", s));
    }
    fig.extract().map_err(Box::new)
}

/// Parts of well-known or placeholder cookies (compared without case): a cookie holding one
/// is refused whatever its length.
const WEAK_COOKIE_PARTS: &[&str] = &[
    "change-me",
    "changeme",
    "change_me",
    "replace-me",
    "example",
    "placeholder",
    "cluster-cookie",
    "password",
];

/// The least entropy a cluster cookie must have, in bits (see [`cookie_bits`]).
pub const MIN_COOKIE_BITS: f64 = 128.0;

/// An estimate of a cookie's entropy in bits, by a simple rule: its length in characters
/// times log2 of the size of the character classes it uses (lower-case letters 26, upper-case
/// 26, digits 10, anything else 33), or 4 bits a character for a cookie of hex digits only.
/// So 32 hex digits count 128 bits, 43 base64url characters (`troupe cluster cookie`) 256 and
/// more. It flatters a phrase of words, which is
/// why well-known parts are refused separately ([`cookie_weakness`]).
pub fn cookie_bits(cookie: &str) -> f64 {
    if !cookie.is_empty()
        && (cookie.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'))
            || cookie.chars().all(|c| matches!(c, '0'..='9' | 'A'..='F')))
    {
        return 4.0 * cookie.len() as f64;
    }
    let (mut lower, mut upper, mut digit, mut other) = (false, false, false, false);
    for c in cookie.chars() {
        match c {
            'a'..='z' => lower = true,
            'A'..='Z' => upper = true,
            '0'..='9' => digit = true,
            _ => other = true,
        }
    }
    let alphabet = 26 * u32::from(lower)
        + 26 * u32::from(upper)
        + 10 * u32::from(digit)
        + 33 * u32::from(other);
    if alphabet == 0 {
        return 0.0;
    }
    cookie.chars().count() as f64 * f64::from(alphabet).log2()
}

/// Why `cookie` is too weak for a cluster, or `None`: under [`MIN_COOKIE_BITS`] by
/// [`cookie_bits`], or holding a well-known or placeholder part (such as the compose file's
/// old `change-me-cluster-cookie`).
pub fn cookie_weakness(cookie: &str) -> Option<String> {
    let lower = cookie.to_ascii_lowercase();
    if let Some(part) = WEAK_COOKIE_PARTS.iter().find(|p| lower.contains(*p)) {
        return Some(format!(
            "it contains {part:?}, a part of well-known or placeholder cookies"
        ));
    }
    let bits = cookie_bits(cookie);
    (bits < MIN_COOKIE_BITS).then(|| {
        format!(
            "it has about {bits:.0} bits of entropy by troupe's estimate (length times the bits of the character classes used), under the {MIN_COOKIE_BITS:.0} required"
        )
    })
}

#[cfg(test)]
// `Jail::expect_with` fixes the closure's error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn weak_and_well_known_cookies_are_refused_and_fresh_ones_pass() {
        for weak in [
            "",
            "test-cluster-cookie",
            "change-me-cluster-cookie",
            "CHANGE-ME-but-make-it-long-enough-to-pass-the-length-rule",
            "0123456789abcdef0123456789abcde",
            "aaaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert!(cookie_weakness(weak).is_some(), "{weak:?} must be refused");
        }
        for strong in [
            "0123456789abcdef0123456789abcdef",
            "q3Jx8Vw1bN4mZ2pK7rT0yU6iO9aS5dF3gH8jL1kE2cQ",
        ] {
            assert_eq!(cookie_weakness(strong), None, "{strong:?}");
        }
        assert_eq!(cookie_bits("0123456789abcdef"), 64.0);
        assert!((cookie_bits("troupe") - 6.0 * 26f64.log2()).abs() < 1e-9);
    }

    #[test]
    fn default_toml_documents_exactly_the_compiled_defaults() {
        let text = include_str!("../config/default.toml");
        let parsed: Config = Figment::from(Toml::string(text)).extract().unwrap();
        assert_eq!(parsed, Config::default());
        // Every key appears in the file, not just the ones that parse to defaults.
        let all = toml_keys(&toml::Value::try_from(Config::default()).unwrap(), "");
        for key in all {
            let leaf = key.rsplit('.').next().unwrap();
            assert!(
                text.lines()
                    .any(|l| l.trim_start().starts_with(&format!("{leaf} ="))),
                "config/default.toml does not document {key}"
            );
            let env = format!("TROUPE__{}", key.replace('.', "__").to_uppercase());
            assert!(
                text.contains(&env),
                "config/default.toml does not name {env}"
            );
        }
    }

    fn toml_keys(v: &toml::Value, prefix: &str) -> Vec<String> {
        match v {
            toml::Value::Table(t) => t
                .iter()
                .flat_map(|(k, v)| {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    match v {
                        toml::Value::Table(_) => toml_keys(v, &p),
                        _ => vec![p],
                    }
                })
                .collect(),
            _ => vec![],
        }
    }

    #[test]
    fn env_vars_override_files_and_flags_override_env() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "extra.toml",
                "[server]\nworkers = 3\nlisten = \"1.2.3.4:1\"",
            )?;
            jail.set_env("TROUPE__SERVER__WORKERS", "7");
            jail.set_env("TROUPE__AUTH__ADMIN_USERNAMES", "[\"root\"]");
            let o = Overrides {
                listen: Some("127.0.0.1:9".into()),
                ..Default::default()
            };
            let c = load(Some(Path::new("extra.toml")), &o).unwrap();
            assert_eq!(c.server.workers, 7);
            assert_eq!(c.server.listen, "127.0.0.1:9");
            assert_eq!(c.auth.admin_usernames, vec!["root".to_string()]);
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "[server]\nlisten_port = 3")?;
            assert!(load(Some(Path::new("bad.toml")), &Overrides::default()).is_err());
            Ok(())
        });
    }
}
