//! troupe: a video streaming platform server built from virtual actors.
//!
//! This crate is the binary's library: configuration, telemetry, the HTTP layer, and the
//! wiring of the actor layer (`troupe_actors`) and the cluster layer (`troupe_cluster`).
//! `main.rs` only parses the command line and calls in here, so tests run the same server.

pub mod certs;
pub mod cli;
pub mod config;
pub mod http;
pub mod keys;
pub mod migrate;
pub mod outbound;
pub mod probes;
pub mod secret;
pub mod startup;
pub mod state;
pub mod telemetry;

#[cfg(test)]
mod proptests;
