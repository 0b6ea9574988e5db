//! Integration tests: real `troupe` processes over real HTTP, real sled, real signals.
//! One test binary (see STYLE.md); one module per area.

mod harness;

mod accounts;
mod catalogue;
mod catalogue_restart;
mod cluster;
mod cluster_tls;
mod console;
mod contract;
mod durability;
mod failover;
mod keys;
mod load;
mod media;
mod operations;
mod playback;
mod players;
mod proxy;
mod revocation;
mod s3;
mod server;
