//! troupe's domain layer: the virtual-actor runtime, the actors, and their persistence.
//!
//! This crate knows nothing of HTTP or of the cluster. Requests reach it as messages to actors
//! addressed by [`ActorId`]; the actors keep their state in a [`store::StateStore`] and their
//! bytes in a [`blob::BlobStore`].

pub mod accounts;
pub mod blob;
pub mod codec;
pub mod id;
pub mod media;
pub mod playback;
pub mod runtime;
pub mod store;

pub use id::ActorId;
