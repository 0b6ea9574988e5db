//! troupe's domain layer: the actor kinds of accounts, channels, media and playback.
//!
//! This crate knows nothing of HTTP or of the cluster. Requests reach it as messages to actors
//! addressed by [`troupe_runtime::ActorId`]; every kind here implements
//! [`troupe_runtime::Entity`], keeps its state in a [`troupe_runtime::store::StateStore`] and
//! its bytes in a [`troupe_runtime::blob::BlobStore`]. The runtime itself lives in the
//! `troupe-runtime` crate.

pub mod accounts;
pub mod channels;
pub mod comments;
pub mod events;
pub mod inbox;
pub mod media;
pub mod moderation;
pub mod outbox;
pub mod playback;
pub mod webhooks;
