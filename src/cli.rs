//! The command line.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// troupe: a video streaming platform server built from virtual actors.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve {
        /// A TOML config file layered over config/default.toml.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Data directory (state database, blobs, signing secret). Default ./data.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Address to listen on. Default 127.0.0.1:8080.
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        /// This node's name in a cluster (turns cluster mode on).
        #[arg(long, value_name = "NAME")]
        node_name: Option<String>,
        /// This node's cluster listener address.
        #[arg(long, value_name = "ADDR")]
        cluster_listen: Option<String>,
        /// Cluster addresses of nodes to join, comma-separated.
        #[arg(long, value_name = "ADDR,...", value_delimiter = ',')]
        seeds: Option<Vec<String>>,
    },
    /// Copy a one-node deployment (sled state, local blobs) into a shared S3-compatible
    /// store, so that cluster nodes can serve it. Stop the server first.
    Migrate {
        /// A TOML config file; `[blobs.s3]` gives the endpoint and credentials.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// The one-node data directory to copy. Default ./data.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// The target, `s3://BUCKET`.
        #[arg(long, value_name = "s3://BUCKET")]
        to: String,
    },
    /// Rebuild the catalogue index (listing, search) from the video actors' state, with
    /// progress. Stop the server first.
    Reindex {
        /// A TOML config file layered over config/default.toml.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Data directory. Default ./data.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Repair the cluster's membership, or make its TLS certificates.
    Cluster {
        /// What to do.
        #[command(subcommand)]
        command: ClusterCommand,
    },
    /// Manage the cluster's token-signing keys (kept sealed in the shared bucket).
    Keys {
        /// What to do.
        #[command(subcommand)]
        command: KeysCommand,
    },
}

/// `troupe cluster ...`.
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Forget a member that is gone for good: it no longer counts toward the majority, on every
    /// node within about 2 s. A member that is up is not forgotten. (Also `DELETE
    /// /api/v1/cluster/members/{name}`, which checks that first.)
    Forget {
        /// The member's node name.
        name: String,
        /// A TOML config file; `[blobs.s3]` names the shared bucket.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Make TLS certificates for the cluster links: a private CA (`ca.pem`, `ca-key.pem`)
    /// unless DIR holds one already, and `NAME.pem` and `NAME-key.pem` for each node, signed
    /// by it and naming `troupe-cluster` and `NAME.node.troupe-cluster`. Run it again with
    /// more names to add nodes under the same CA. It never overwrites a key: a node whose
    /// files exist keeps them (it says so), and a name that would overwrite another file it
    /// writes (`ca`, `ca-key`, `crl`, `NAME-key`, twice the same name) is refused. Key files
    /// are mode 0600. `--revoke NAME` adds a node's certificate to the revocation list
    /// `crl.pem` (for `cluster.tls_crl`) and moves its files to `revoked/` (see
    /// docs/operations.md, "A leaked node key").
    Certs {
        /// Where to write the files (made if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The nodes' names, comma-separated (one certificate each).
        #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
        nodes: Vec<String>,
        /// Revoke these nodes' certificates (comma-separated): add them to `crl.pem`.
        #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
        revoke: Vec<String>,
    },
    /// Print a fresh cluster cookie: 32 random bytes (256 bits), base64url. Give every node
    /// the same one (`cluster.cookie` or `cluster.cookie_file`).
    Cookie,
}

/// `troupe keys ...`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a signing key: new tokens are signed with it from twice
    /// `auth.keyring_refresh_secs` from now (once every node has loaded it); tokens signed with
    /// older keys keep verifying until they expire.
    Rotate {
        /// A TOML config file; `[blobs.s3]` names the bucket, `[cluster]` the cookie.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}
