//! Access and refresh tokens (HS256 JWTs, jsonwebtoken) and what a verified caller is ([`AuthUser`]; its extractor is in [`super::guard`]).
//!
//! Access tokens are short-lived and verified without asking any actor: signature, `alg`
//! (only HS256, so `alg: none` and key-confusion tricks fail), issuer, audience and expiry.
//! A token that passed is remembered (by its exact text, in a bounded cache) with its claims,
//! so that a client's next request with it skips the HMAC and the JSON decoding; the expiry is
//! checked on every use all the same.
//! Refresh tokens carry their family and generation; the user actor decides whether they are
//! still the current one. The two have different audiences, so neither passes for the other.

use super::error::ApiError;
use crate::config::AuthConfig;
use crate::keys::Keyring;
use actix_web::{http::header, HttpMessage, HttpRequest};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use troupe_actors::accounts::{LoginGrant, Role};
use uuid::Uuid;

/// Claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// The user's actor key (normalised username).
    pub sub: String,
    /// The user's id.
    pub uid: Uuid,
    /// The user's role when the token was issued.
    pub role: Role,
    /// The login (refresh-token family) it came from: a password change keeps this login
    /// and revokes the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fam: Option<Uuid>,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expiry (Unix seconds).
    pub exp: i64,
}

/// Claims of a refresh token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshClaims {
    /// Issuer.
    pub iss: String,
    /// Audience (`<audience>/refresh`).
    pub aud: String,
    /// The user's actor key.
    pub sub: String,
    /// Refresh-token family.
    pub fam: Uuid,
    /// Generation within the family.
    pub gen: u32,
    /// Issued at.
    pub iat: i64,
    /// Expiry.
    pub exp: i64,
}

/// Claims of a playback token: what may be played, by whom, up to which rendition.
///
/// Two audiences share this shape. A *playback* token (short-lived, from the API) opens a
/// video's master playlist. The master playlist names its media playlists with a *media* token
/// minted from it, which lives as long as watching the video takes, so that playback that has
/// started is not cut off, while a dead playback token opens nothing new.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlaybackClaims {
    /// Issuer.
    pub iss: String,
    /// Audience: `<audience>/playback` or `<audience>/media`.
    pub aud: String,
    /// The viewer's user key, or `anonymous`.
    pub sub: String,
    /// The one video it plays.
    pub vid: Uuid,
    /// The tallest rendition it may play, in lines (the viewer's plan).
    pub cap: u32,
    /// The playback session it belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Issued at.
    pub iat: i64,
    /// Expiry.
    pub exp: i64,
}

/// Claims of a poster token: the signature in a private video's poster URL
/// (`thumbnail.jpg?token=`), which an `<img>` can load without a bearer token. It names the
/// video and nothing else; it is handed only to callers who may see the video.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PosterClaims {
    /// Issuer.
    pub iss: String,
    /// Audience: `<audience>/poster`.
    pub aud: String,
    /// The one video whose poster it opens.
    pub vid: Uuid,
    /// Issued at: the start of the signing window, so that every URL signed in one window is
    /// the same and browsers can cache the image.
    pub iat: i64,
    /// Expiry.
    pub exp: i64,
}

/// Claims of an export token: the signature in a data export's download link, which a plain
/// HTTP client (or the mail's reader) can follow without a bearer token. It names one export
/// of one account and expires with the archive.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportClaims {
    /// Issuer.
    pub iss: String,
    /// Audience: `<audience>/export`.
    pub aud: String,
    /// The account's user key.
    pub sub: String,
    /// The account's id.
    pub uid: Uuid,
    /// The export.
    pub eid: Uuid,
    /// Issued at.
    pub iat: i64,
    /// Expiry: when the archive expires.
    pub exp: i64,
}

/// How long a poster URL stays valid at least (seconds).
pub const POSTER_TOKEN_TTL_SECS: i64 = 3600;
/// Poster URLs are signed per window of this many seconds: within a window the same video
/// gets the same URL (so the browser's cache works), valid for [`POSTER_TOKEN_TTL_SECS`] to
/// that plus one window.
pub const POSTER_TOKEN_WINDOW_SECS: i64 = 600;

/// Signs and verifies tokens.
pub struct Tokens {
    /// The signing keys; replaced when the cluster's keyring changes.
    keys: std::sync::RwLock<std::sync::Arc<KeySet>>,
    access: Validation,
    refresh: Validation,
    playback: Validation,
    media: Validation,
    poster: Validation,
    export: Validation,
    issuer: String,
    audience: String,
    /// Access-token lifetime in seconds.
    pub access_ttl: i64,
    /// Access tokens that verified, by their text.
    verified: quick_cache::sync::Cache<String, AccessClaims>,
}

/// The keys of a keyring, ready to sign and verify.
struct KeySet {
    /// (id, signs from, verifies tokens without a `kid`, signing key, verifying key).
    keys: Vec<(String, i64, bool, EncodingKey, DecodingKey)>,
}

impl KeySet {
    fn new(keyring: &Keyring) -> KeySet {
        KeySet {
            keys: keyring
                .keys
                .iter()
                .filter_map(|k| {
                    let secret = crate::keys::unhex(&k.secret)?;
                    Some((
                        k.kid.clone(),
                        k.active_from,
                        k.unlabelled,
                        EncodingKey::from_secret(&secret),
                        DecodingKey::from_secret(&secret),
                    ))
                })
                .collect(),
        }
    }

    /// The key that signs now: the newest one active (the oldest, if none is yet).
    fn signing(&self) -> Option<(&str, &EncodingKey)> {
        let now = chrono::Utc::now().timestamp();
        self.keys
            .iter()
            .filter(|k| k.1 <= now)
            .max_by_key(|k| k.1)
            .or_else(|| self.keys.first())
            .map(|k| (k.0.as_str(), &k.3))
    }

    /// The key that verifies a token with this `kid` (or without one).
    fn verifying(&self, kid: Option<&str>) -> Option<&DecodingKey> {
        self.keys
            .iter()
            .find(|k| match kid {
                Some(kid) => k.0 == kid,
                None => k.2,
            })
            .map(|k| &k.4)
    }
}

/// How many verified access tokens are remembered (about 0.5 KiB each).
const VERIFIED_TOKENS: usize = 16_384;

/// A freshly issued token pair.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenPair {
    /// The bearer token for `Authorization: Bearer ...`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Exchange at `/api/v1/auth/refresh` for a new pair; usable once. Absent when the login
    /// asked for it in a cookie (`refresh_cookie`): it is then in the `troupe_refresh` cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Seconds until this login ends, whatever is refreshed.
    pub refresh_expires_in: i64,
}

impl Tokens {
    /// Builds the token service from one signing secret and the auth configuration.
    pub fn new(secret: &[u8], cfg: &AuthConfig) -> Self {
        Self::with_keys(&Keyring::single(secret), cfg)
    }

    /// Builds the token service from a keyring and the auth configuration.
    pub fn with_keys(keyring: &Keyring, cfg: &AuthConfig) -> Self {
        let validation = |aud: &str| {
            let mut v = Validation::new(Algorithm::HS256);
            v.set_issuer(&[&cfg.issuer]);
            v.set_audience(&[aud]);
            v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
            v.leeway = 5;
            v
        };
        Self {
            keys: std::sync::RwLock::new(std::sync::Arc::new(KeySet::new(keyring))),
            access: validation(&cfg.audience),
            refresh: validation(&format!("{}/refresh", cfg.audience)),
            playback: validation(&format!("{}/playback", cfg.audience)),
            media: validation(&format!("{}/media", cfg.audience)),
            poster: {
                let mut v = validation(&format!("{}/poster", cfg.audience));
                v.set_required_spec_claims(&["exp", "iss", "aud"]);
                // Expired is expired: the window already gives a poster URL its slack.
                v.leeway = 0;
                v
            },
            export: {
                let mut v = validation(&format!("{}/export", cfg.audience));
                // The archive is deleted when the link expires.
                v.leeway = 0;
                v
            },
            issuer: cfg.issuer.clone(),
            audience: cfg.audience.clone(),
            access_ttl: cfg.access_ttl_secs as i64,
            verified: quick_cache::sync::Cache::new(VERIFIED_TOKENS),
        }
    }

    /// Replaces the keys (the cluster's keyring changed): new tokens are signed with its
    /// current key, and tokens of every key it holds verify.
    pub fn set_keys(&self, keyring: &Keyring) {
        *self.keys.write().expect("keys lock") = std::sync::Arc::new(KeySet::new(keyring));
    }

    /// The id of the key that signs now.
    pub fn signing_kid(&self) -> Option<String> {
        let keys = self.keys.read().expect("keys lock").clone();
        keys.signing().map(|(kid, _)| kid.to_owned())
    }

    /// Verifies a token with the key its `kid` names (or, without one, the key of tokens
    /// issued before keys had ids): an unknown `kid` fails like a bad signature.
    fn decode<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        validation: &Validation,
    ) -> jsonwebtoken::errors::Result<jsonwebtoken::TokenData<T>> {
        let header = jsonwebtoken::decode_header(token)?;
        let keys = self.keys.read().expect("keys lock").clone();
        let key = keys
            .verifying(header.kid.as_deref())
            .ok_or(jsonwebtoken::errors::ErrorKind::InvalidSignature)?;
        decode::<T>(token, key, validation)
    }

    /// Signs an access token and a refresh token for a login or refresh.
    pub fn issue(&self, grant: &LoginGrant) -> Result<TokenPair, ApiError> {
        let now = chrono::Utc::now().timestamp();
        let key = grant.user.username.to_ascii_lowercase();
        let access = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: key.clone(),
            uid: grant.user.id,
            role: grant.user.role,
            fam: Some(grant.family),
            iat: now,
            exp: now + self.access_ttl,
        };
        let refresh_exp = grant.refresh_expires_at.timestamp();
        let refresh = RefreshClaims {
            iss: self.issuer.clone(),
            aud: format!("{}/refresh", self.audience),
            sub: key,
            fam: grant.family,
            gen: grant.generation,
            iat: now,
            exp: refresh_exp,
        };
        Ok(TokenPair {
            access_token: self.sign(&access)?,
            token_type: "Bearer",
            expires_in: self.access_ttl,
            refresh_token: Some(self.sign(&refresh)?),
            refresh_expires_in: (refresh_exp - now).max(0),
        })
    }

    fn sign<T: Serialize>(&self, claims: &T) -> Result<String, ApiError> {
        let keys = self.keys.read().expect("keys lock").clone();
        let Some((kid, key)) = keys.signing() else {
            return Err(ApiError::unavailable(
                "token_signing_failed",
                "no signing key",
                1,
            ));
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.to_owned());
        encode(&header, claims, key).map_err(|e| {
            ApiError::unavailable("token_signing_failed", format!("cannot sign token: {e}"), 1)
        })
    }

    /// Verifies an access token.
    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, ApiError> {
        if let Some(claims) = self.verified.get(token) {
            if chrono::Utc::now().timestamp() < claims.exp {
                return Ok(claims);
            }
        }
        // Not remembered, or expired: the check below says which (with its leeway).
        let claims = self
            .decode::<AccessClaims>(token, &self.access)
            .map(|d| d.claims)
            .map_err(|e| {
                ApiError::unauthorized(
                    "invalid_token",
                    format!("the access token is not valid: {e}"),
                )
            })?;
        self.verified.insert(token.to_owned(), claims.clone());
        Ok(claims)
    }

    /// Signs a playback token for one video.
    pub fn sign_playback(
        &self,
        video: Uuid,
        cap: u32,
        viewer: &str,
        session: Option<String>,
        ttl_secs: i64,
    ) -> Result<(String, PlaybackClaims), ApiError> {
        let now = chrono::Utc::now().timestamp();
        let claims = PlaybackClaims {
            iss: self.issuer.clone(),
            aud: format!("{}/playback", self.audience),
            sub: viewer.to_owned(),
            vid: video,
            cap,
            sid: session,
            iat: now,
            exp: now + ttl_secs,
        };
        Ok((self.sign(&claims)?, claims))
    }

    /// Mints the media token that a master playlist hands to its media playlists: the same
    /// video, viewer and cap, valid for `ttl_secs`.
    pub fn sign_media(&self, playback: &PlaybackClaims, ttl_secs: i64) -> Result<String, ApiError> {
        let now = chrono::Utc::now().timestamp();
        let claims = PlaybackClaims {
            aud: format!("{}/media", self.audience),
            iat: now,
            exp: now + ttl_secs,
            ..playback.clone()
        };
        self.sign(&claims)
    }

    /// Verifies a playback token for `video`.
    pub fn verify_playback(&self, token: &str, video: Uuid) -> Result<PlaybackClaims, ApiError> {
        verify_scoped(self.decode::<PlaybackClaims>(token, &self.playback), video)
    }

    /// Verifies a media token for `video`.
    pub fn verify_media(&self, token: &str, video: Uuid) -> Result<PlaybackClaims, ApiError> {
        verify_scoped(self.decode::<PlaybackClaims>(token, &self.media), video)
    }

    /// Signs the poster token of `video` for the window `now` falls in (see
    /// [`POSTER_TOKEN_WINDOW_SECS`]): the same token for every call within one window.
    pub fn sign_poster(&self, video: Uuid, now: i64) -> Result<String, ApiError> {
        let start = now - now.rem_euclid(POSTER_TOKEN_WINDOW_SECS);
        self.sign(&PosterClaims {
            iss: self.issuer.clone(),
            aud: format!("{}/poster", self.audience),
            vid: video,
            iat: start,
            exp: start + POSTER_TOKEN_WINDOW_SECS + POSTER_TOKEN_TTL_SECS,
        })
    }

    /// Verifies a poster token for `video`: 403 `poster_token_expired` once it has run out,
    /// 403 `invalid_poster_token` when it is malformed, tampered with, or for another video.
    pub fn verify_poster(&self, token: &str, video: Uuid) -> Result<(), ApiError> {
        use actix_web::http::StatusCode;
        use jsonwebtoken::errors::ErrorKind;
        match self.decode::<PosterClaims>(token, &self.poster) {
            Ok(d) if d.claims.vid == video => Ok(()),
            Err(e) if matches!(e.kind(), ErrorKind::ExpiredSignature) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "poster_token_expired",
                "this poster link has expired; read the video again for a fresh one",
            )),
            _ => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "invalid_poster_token",
                "the poster token is malformed, not signed by this service, or for another video",
            )),
        }
    }

    /// Signs the token of export `export`'s download link, valid until `expires_at`.
    pub fn sign_export(
        &self,
        user_key: &str,
        user: Uuid,
        export: Uuid,
        expires_at: i64,
    ) -> Result<String, ApiError> {
        self.sign(&ExportClaims {
            iss: self.issuer.clone(),
            aud: format!("{}/export", self.audience),
            sub: user_key.to_owned(),
            uid: user,
            eid: export,
            iat: chrono::Utc::now().timestamp(),
            exp: expires_at,
        })
    }

    /// Verifies an export token for `export`: 410 `export_expired` once it has run out, 403
    /// `invalid_export_link` when it is malformed, tampered with, or for another export.
    pub fn verify_export(&self, token: &str, export: Uuid) -> Result<ExportClaims, ApiError> {
        use actix_web::http::StatusCode;
        use jsonwebtoken::errors::ErrorKind;
        match self.decode::<ExportClaims>(token, &self.export) {
            Ok(d) if d.claims.eid == export => Ok(d.claims),
            Err(e) if matches!(e.kind(), ErrorKind::ExpiredSignature) => Err(ApiError::new(
                StatusCode::GONE,
                "export_expired",
                "this export has expired and its archive is deleted; ask for a new export",
            )),
            _ => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "invalid_export_link",
                "the export link is malformed, not signed by this service, or for another export",
            )),
        }
    }

    /// Verifies a refresh token's signature, audience and expiry (not whether it is current).
    pub fn verify_refresh(&self, token: &str) -> Result<RefreshClaims, ApiError> {
        self.decode::<RefreshClaims>(token, &self.refresh)
            .map(|d| d.claims)
            .map_err(|_| {
                ApiError::unauthorized(
                    "invalid_refresh_token",
                    "the refresh token is invalid, expired or revoked; log in again",
                )
            })
    }
}

fn verify_scoped(
    decoded: jsonwebtoken::errors::Result<jsonwebtoken::TokenData<PlaybackClaims>>,
    video: Uuid,
) -> Result<PlaybackClaims, ApiError> {
    use actix_web::http::StatusCode;
    use jsonwebtoken::errors::ErrorKind;
    match decoded {
        Ok(d) if d.claims.vid == video => Ok(d.claims),
        Ok(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "token_wrong_video",
            "this playback token is for another video",
        )),
        Err(e) if matches!(e.kind(), ErrorKind::ExpiredSignature) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "playback_token_expired",
            "the playback token has expired; get a new one",
        )),
        Err(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "invalid_playback_token",
            "the playback token is missing, malformed or not signed by this service",
        )),
    }
}

/// The signed-in caller, from a valid `Authorization: Bearer` access token.
#[derive(Debug, Clone)]
pub struct AuthUser(pub AccessClaims);

/// What the rate limiter found in the `Authorization` header, kept so that the token is
/// verified once per request.
#[derive(Clone)]
pub(crate) struct Bearer(pub Result<AccessClaims, ApiError>);

/// Verifies the request's bearer token, if it has one.
pub(crate) fn bearer(req: &HttpRequest, tokens: &Tokens) -> Option<Result<AccessClaims, ApiError>> {
    if let Some(b) = req.extensions().get::<Bearer>() {
        return Some(b.0.clone());
    }
    let value = req.headers().get(header::AUTHORIZATION)?;
    let result = match value.to_str().ok().and_then(|v| {
        let (scheme, token) = v.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    }) {
        Some(token) if !token.is_empty() => tokens.verify_access(token),
        _ => Err(ApiError::unauthorized(
            "invalid_token",
            "the Authorization header must be 'Bearer <token>'",
        )),
    };
    req.extensions_mut().insert(Bearer(result.clone()));
    Some(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(tokens: &Tokens, exp: i64) -> AccessClaims {
        AccessClaims {
            iss: tokens.issuer.clone(),
            aud: tokens.audience.clone(),
            sub: "ada".into(),
            uid: Uuid::new_v4(),
            role: Role::User,
            fam: None,
            iat: exp - 60,
            exp,
        }
    }

    #[test]
    fn verified_access_tokens_are_remembered_and_still_expire() {
        let tokens = Tokens::new(
            b"unit-test-secret-unit-test-secret-0123",
            &AuthConfig::default(),
        );
        let now = chrono::Utc::now().timestamp();
        let good = tokens.sign(&claims(&tokens, now + 600)).unwrap();
        assert_eq!(tokens.verify_access(&good).unwrap().sub, "ada");
        assert_eq!(tokens.verified.len(), 1);
        assert_eq!(tokens.verify_access(&good).unwrap().sub, "ada");

        // A tampered token is not the remembered one: it is verified, and fails.
        let mut bad = good.clone();
        bad.pop();
        assert_eq!(
            tokens.verify_access(&bad).unwrap_err().code,
            "invalid_token"
        );

        // A token remembered while it was good, checked once its expiry is `exp`.
        let remembered = |exp| {
            let c = claims(&tokens, exp);
            let token = tokens.sign(&c).unwrap();
            tokens.verified.insert(token.clone(), c);
            tokens.verify_access(&token)
        };
        // Its time has run out: it is checked again, and refused.
        assert_eq!(remembered(now - 60).unwrap_err().code, "invalid_token");
        // Within the leeway it still passes, as the signature check would let it.
        assert!(remembered(now - 2).is_ok());
    }

    #[test]
    fn poster_urls_are_the_same_within_a_window_and_open_one_video() {
        let tokens = Tokens::new(
            b"unit-test-secret-unit-test-secret-0123",
            &AuthConfig::default(),
        );
        let (video, other) = (Uuid::new_v4(), Uuid::new_v4());
        let now = chrono::Utc::now().timestamp();
        let start = now - now.rem_euclid(POSTER_TOKEN_WINDOW_SECS);
        let a = tokens.sign_poster(video, start).unwrap();
        let b = tokens
            .sign_poster(video, start + POSTER_TOKEN_WINDOW_SECS - 1)
            .unwrap();
        assert_eq!(a, b, "one URL per window, so browsers cache the image");
        assert_ne!(
            a,
            tokens
                .sign_poster(video, start + POSTER_TOKEN_WINDOW_SECS)
                .unwrap()
        );
        assert!(tokens.verify_poster(&a, video).is_ok());
        assert_eq!(
            tokens.verify_poster(&a, other).unwrap_err().code,
            "invalid_poster_token"
        );
        // Signed long enough ago, it has run out.
        let old = tokens
            .sign_poster(
                video,
                now - POSTER_TOKEN_TTL_SECS - POSTER_TOKEN_WINDOW_SECS - 1,
            )
            .unwrap();
        assert_eq!(
            tokens.verify_poster(&old, video).unwrap_err().code,
            "poster_token_expired"
        );
        // An access token is not a poster token.
        let access = tokens.sign(&claims(&tokens, now + 600)).unwrap();
        assert_eq!(
            tokens.verify_poster(&access, video).unwrap_err().code,
            "invalid_poster_token"
        );
    }
}
