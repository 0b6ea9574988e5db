//! Integration tests: real `troupe` processes over real HTTP, real sled, real signals.
//! One test binary (see STYLE.md); one module per area.

mod harness;

mod accounts;
mod catalogue;
mod catalogue_paging;
mod catalogue_restart;
mod channel_migration;
mod channels;
mod cluster;
mod cluster_secrets;
mod cluster_tls;
mod comments;
mod compression;
mod console;
mod contract;
mod durability;
mod email;
mod event_streams;
mod export;
mod failover;
mod feeds;
mod keys;
mod lifecycle;
mod load;
mod media;
mod moderation;
mod notifications;
mod operations;
mod playback;
mod players;
mod power_cut;
mod proxy;
mod revocation;
mod s3;
mod server;
mod watch;
mod webhooks;
