//! The token-signing keys: a keyring of HMAC keys with ids (the JWT `kid`).
//!
//! Where the keys come from, first match wins:
//! 1. a configured key (`auth.jwt_secret` or `auth.jwt_secret_file`), on every node alike;
//! 2. in a cluster, the keyring in the shared bucket (`keys/jwt-keyring`): the first node
//!    creates it with a conditional create (`If-None-Match: *`), every other node reads it;
//! 3. on one node, `<data_dir>/jwt-secret`, generated on first start.
//!
//! **Sealed.** The bucket holds the keyring encrypted with XChaCha20-Poly1305 under a key
//! derived from the cluster cookie (HKDF-SHA256), so the bucket alone cannot forge tokens, and
//! a node with a wrong cookie cannot unseal it: it refuses to start and says so.
//!
//! **Rotation.** `troupe keys rotate` adds a key that becomes the signing key
//! `2 × auth.keyring_refresh_secs` later: every node reloads the keyring that often, so each one
//! knows the new key before any node signs with it. Older keys keep verifying the tokens they
//! signed until those expire (the newest [`KEPT`] keys are kept).
//!
//! **Migration.** `troupe migrate` puts the one-node key into the bucket's keyring, marked as
//! the key for tokens without a `kid` (every token issued before keys had ids), so tokens and
//! refresh tokens issued before a migration keep working after it.

use anyhow::{bail, Context};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use object_store::path::Path as BlobPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// Where the sealed keyring lives in the shared bucket.
pub const KEYRING_PATH: &str = "keys/jwt-keyring";
/// How many keys a keyring keeps: the newest ones.
pub const KEPT: usize = 8;
/// The format marker in front of a sealed keyring.
const MAGIC: &[u8; 4] = b"TKR1";

/// One signing key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key {
    /// Its id, carried in the `kid` header of the tokens it signs.
    pub kid: String,
    /// The HMAC key, hex.
    pub secret: String,
    /// When it signs new tokens from (Unix seconds).
    pub active_from: i64,
    /// Whether it verifies tokens that carry no `kid` (issued before keys had ids).
    #[serde(default)]
    pub unlabelled: bool,
}

/// The keys a node signs and verifies with.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Keyring {
    /// Oldest first.
    pub keys: Vec<Key>,
}

impl Keyring {
    /// A keyring of one key, which also verifies tokens without a `kid`.
    pub fn single(secret: &[u8]) -> Keyring {
        Keyring {
            keys: vec![Key {
                kid: kid_of(secret),
                secret: hex(secret),
                active_from: 0,
                unlabelled: true,
            }],
        }
    }

    /// A new keyring with one fresh random key.
    fn fresh() -> Keyring {
        Keyring {
            keys: vec![Key {
                kid: random_kid(),
                secret: hex(&random_secret()),
                active_from: 0,
                unlabelled: false,
            }],
        }
    }

    /// The key that signs at `now`: the newest one active by then (or the oldest, if none is).
    pub fn current(&self, now: i64) -> Option<&Key> {
        self.keys
            .iter()
            .filter(|k| k.active_from <= now)
            .max_by_key(|k| k.active_from)
            .or_else(|| self.keys.first())
    }

    /// Adds a fresh key that signs from `active_from`; drops the oldest beyond [`KEPT`]. Its id.
    fn add(&mut self, active_from: i64) -> String {
        let kid = random_kid();
        self.keys.push(Key {
            kid: kid.clone(),
            secret: hex(&random_secret()),
            active_from,
            unlabelled: false,
        });
        let drop = self.keys.len().saturating_sub(KEPT);
        self.keys.drain(..drop);
        kid
    }
}

/// The id of a configured or local key: derived from the key itself, so that nodes configured
/// with the same key agree on it and nodes configured differently can tell.
pub fn kid_of(secret: &[u8]) -> String {
    let digest = Sha256::new()
        .chain_update(b"troupe kid\0")
        .chain_update(secret)
        .finalize();
    format!("k{}", hex(&digest[..6]))
}

fn random_kid() -> String {
    let mut b = [0u8; 6];
    rand::fill(&mut b);
    format!("r{}", hex(&b))
}

fn random_secret() -> [u8; 32] {
    let mut b = [0u8; 32];
    rand::fill(&mut b);
    b
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Decodes a key's hex secret.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The sealing key derived from the cluster cookie.
fn sealer(cookie: &str) -> XChaCha20Poly1305 {
    let hk = hkdf::Hkdf::<Sha256>::new(Some(b"troupe keyring v1"), cookie.as_bytes());
    let mut key = [0u8; 32];
    hk.expand(b"jwt signing keys", &mut key)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    XChaCha20Poly1305::new(&key.into())
}

/// Seals a keyring with the cookie: `TKR1`, a random 24-byte nonce, the ciphertext.
pub fn seal(keyring: &Keyring, cookie: &str) -> Vec<u8> {
    let mut nonce = [0u8; 24];
    rand::fill(&mut nonce);
    let plain = serde_json::to_vec(keyring).expect("a keyring serialises");
    let sealed = sealer(cookie)
        .encrypt(XNonce::from_slice(&nonce), plain.as_slice())
        .expect("XChaCha20-Poly1305 encrypts any length we use");
    [MAGIC.as_slice(), &nonce, &sealed].concat()
}

/// Unseals a keyring with the cookie; an error when the cookie is not the one it was sealed
/// with (or the bytes are not a keyring).
pub fn unseal(bytes: &[u8], cookie: &str) -> anyhow::Result<Keyring> {
    let Some(rest) = bytes.strip_prefix(MAGIC.as_slice()) else {
        bail!("{KEYRING_PATH} in the bucket is not a troupe keyring");
    };
    if rest.len() < 24 {
        bail!("{KEYRING_PATH} in the bucket is truncated");
    }
    let (nonce, sealed) = rest.split_at(24);
    let plain = sealer(cookie)
        .decrypt(XNonce::from_slice(nonce), sealed)
        .map_err(|_| {
            anyhow::anyhow!(
                "cannot unseal the cluster's signing keys ({KEYRING_PATH} in the bucket) with this node's cluster cookie: the cookie is not the one the cluster uses"
            )
        })?;
    serde_json::from_slice(&plain).context("the unsealed keyring is not valid")
}

/// Reads the bucket's keyring and its version; `None` when there is none yet.
pub async fn read(
    store: &dyn ObjectStore,
    cookie: &str,
) -> anyhow::Result<Option<(Keyring, UpdateVersion)>> {
    match store.get(&BlobPath::from(KEYRING_PATH)).await {
        Ok(got) => {
            let version = UpdateVersion {
                e_tag: got.meta.e_tag.clone(),
                version: got.meta.version.clone(),
            };
            let bytes = got
                .bytes()
                .await
                .context("cannot read the cluster's signing keys")?;
            Ok(Some((unseal(&bytes, cookie)?, version)))
        }
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e).context("cannot read the cluster's signing keys from the bucket"),
    }
}

/// The bucket's keyring, created (one fresh key) by whichever node gets there first.
pub async fn load_or_create(store: &dyn ObjectStore, cookie: &str) -> anyhow::Result<Keyring> {
    for _ in 0..5 {
        if let Some((keyring, _)) = read(store, cookie).await? {
            return Ok(keyring);
        }
        let keyring = Keyring::fresh();
        let put = store
            .put_opts(
                &BlobPath::from(KEYRING_PATH),
                PutPayload::from(seal(&keyring, cookie)),
                PutOptions::from(PutMode::Create),
            )
            .await;
        match put {
            Ok(_) => {
                tracing::info!(kid = %keyring.keys[0].kid, "created the cluster's signing keys in the bucket");
                return Ok(keyring);
            }
            // Another node created it first: read theirs.
            Err(object_store::Error::AlreadyExists { .. }) => continue,
            Err(e) => return Err(e).context("cannot create the cluster's signing keys"),
        }
    }
    bail!("the cluster's signing keys kept changing while this node tried to read them")
}

/// Changes the bucket's keyring with `change` (creating it if there is none), with a
/// compare-and-swap on its version: a concurrent change is read again and `change` re-applied.
pub async fn update<T>(
    store: &dyn ObjectStore,
    cookie: &str,
    mut change: impl FnMut(&mut Keyring) -> T,
) -> anyhow::Result<T> {
    for _ in 0..10 {
        let (mut keyring, mode) = match read(store, cookie).await? {
            Some((k, v)) => (k, PutMode::Update(v)),
            None => (Keyring::default(), PutMode::Create),
        };
        let out = change(&mut keyring);
        let put = store
            .put_opts(
                &BlobPath::from(KEYRING_PATH),
                PutPayload::from(seal(&keyring, cookie)),
                PutOptions::from(mode),
            )
            .await;
        match put {
            Ok(_) => return Ok(out),
            Err(object_store::Error::Precondition { .. })
            | Err(object_store::Error::AlreadyExists { .. }) => continue,
            Err(e) => return Err(e).context("cannot write the cluster's signing keys"),
        }
    }
    bail!("the cluster's signing keys kept changing; try again")
}

/// `troupe keys rotate`: adds a key that signs from `activate_in` from now. Its id.
pub async fn rotate(
    store: &dyn ObjectStore,
    cookie: &str,
    activate_in: Duration,
) -> anyhow::Result<String> {
    let from = chrono::Utc::now().timestamp() + activate_in.as_secs() as i64;
    let kid = update(store, cookie, |k| {
        if k.keys.is_empty() {
            // No keyring yet: its first key signs at once, the new one later.
            *k = Keyring::fresh();
        }
        k.add(from)
    })
    .await?;
    Ok(kid)
}

/// `troupe migrate`: puts the one-node key into the bucket's keyring, as the key of tokens
/// without a `kid` (and as the signing key when the keyring is new).
pub async fn adopt(store: &dyn ObjectStore, cookie: &str, secret: &[u8]) -> anyhow::Result<()> {
    let local = Keyring::single(secret).keys.remove(0);
    update(store, cookie, |k| {
        if let Some(existing) = k.keys.iter_mut().find(|e| e.kid == local.kid) {
            existing.unlabelled = true;
            return;
        }
        for e in &mut k.keys {
            e.unlabelled = false;
        }
        k.keys.insert(0, local.clone());
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_keyring_opens_only_with_its_cookie() {
        let k = Keyring::fresh();
        let sealed = seal(&k, "the-cookie");
        assert_eq!(unseal(&sealed, "the-cookie").unwrap(), k);
        let err = unseal(&sealed, "another-cookie").unwrap_err().to_string();
        assert!(err.contains("cookie is not the one"), "{err}");
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(unseal(&tampered, "the-cookie").is_err());
        // Nothing of the keyring is in the sealed bytes: not the secret, neither as the hex
        // text the plain JSON holds nor raw, and no 16-byte run of the plain JSON at all (so
        // this fails if the keyring were written unsealed).
        let contains = |needle: &[u8]| sealed.windows(needle.len()).any(|w| w == needle);
        let secret = unhex(&k.keys[0].secret).unwrap();
        assert!(!contains(k.keys[0].secret.as_bytes()), "the hex secret");
        assert!(!contains(&secret), "the raw secret");
        let plain = serde_json::to_vec(&k).unwrap();
        assert!(plain.windows(16).all(|w| !contains(w)), "a run of the JSON");
        // And what follows the header does not read as a keyring.
        let body = &sealed[MAGIC.len() + 24..];
        assert!(serde_json::from_slice::<Keyring>(body).is_err());
    }

    #[test]
    fn the_newest_active_key_signs_and_old_keys_are_kept_up_to_a_bound() {
        let mut k = Keyring::fresh();
        let first = k.keys[0].kid.clone();
        let later = k.add(1_000);
        assert_eq!(k.current(999).unwrap().kid, first);
        assert_eq!(k.current(1_000).unwrap().kid, later);
        for i in 0..20 {
            k.add(2_000 + i);
        }
        assert_eq!(k.keys.len(), KEPT);
        assert_eq!(k.current(i64::MAX).unwrap().active_from, 2_019);
    }

    #[test]
    fn configured_keys_have_ids_from_the_key_itself() {
        let a = Keyring::single(b"0123456789abcdef0123456789abcdef");
        let b = Keyring::single(b"0123456789abcdef0123456789abcdef");
        let c = Keyring::single(b"fedcba9876543210fedcba9876543210");
        assert_eq!(a.keys[0].kid, b.keys[0].kid);
        assert_ne!(a.keys[0].kid, c.keys[0].kid);
        assert!(a.keys[0].unlabelled);
        assert_eq!(
            unhex(&a.keys[0].secret).unwrap(),
            b"0123456789abcdef0123456789abcdef"
        );
    }
}
