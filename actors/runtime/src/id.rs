//! Actor addresses.
//!
//! Every virtual actor is addressed by an [`ActorId`]: a kind (`user`, `video`, `counter`, ...)
//! and a key that is unique within the kind. The address is all anyone needs to reach an actor;
//! whether it is active, on which node, is the runtime's business.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The address of a virtual actor.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ActorId {
    /// The actor kind, e.g. `user`. Kinds are static names chosen by the code.
    pub kind: String,
    /// The key within the kind, e.g. a normalised username.
    pub key: String,
}

impl ActorId {
    /// Builds an address from a kind and a key.
    pub fn new(kind: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            key: key.into(),
        }
    }

    /// The key under which this actor's state is stored: `<kind>/<key>`.
    ///
    /// Keys may hold any UTF-8 except `/` is allowed too: the kind never contains `/`, so the
    /// first `/` always separates the two.
    pub fn storage_key(&self) -> String {
        format!("{}/{}", self.kind, self.key)
    }
}

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.key)
    }
}
