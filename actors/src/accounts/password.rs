//! Password hashing (argon2id) and the strength policy.
//!
//! Hashing is deliberately slow (tens of milliseconds), so callers run these functions on a
//! blocking thread, never on an async worker or inside an actor's handler directly.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;

/// A hash of a password nobody knows, verified against for unknown users so that a login for
/// an unknown user takes as long as one with a wrong password.
pub(crate) static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash("a password that is not anyone's").expect("hash dummy"));

/// Hashes `password` with argon2id (OWASP parameters: 19 MiB, 2 passes) and a random salt,
/// as a PHC string.
pub fn hash(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `password` matches the PHC string `phc`. A malformed hash never matches.
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Why a password is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeakPassword {
    /// What to do about it, for the user.
    pub advice: String,
}

/// Checks a new password: 8 to 128 characters, and a zxcvbn score of at least `min_score`
/// (0-4), counting the username and email as guessable.
pub fn check_strength(
    password: &str,
    min_score: u8,
    user_inputs: &[&str],
) -> Result<(), WeakPassword> {
    let len = password.chars().count();
    if len < 8 {
        return Err(WeakPassword {
            advice: "use at least 8 characters".into(),
        });
    }
    if len > 128 {
        return Err(WeakPassword {
            advice: "use at most 128 characters".into(),
        });
    }
    let entropy = zxcvbn::zxcvbn(password, user_inputs);
    if (entropy.score() as u8) < min_score {
        let advice = entropy
            .feedback()
            .and_then(|f| {
                f.warning()
                    .map(|w| w.to_string())
                    .or_else(|| f.suggestions().first().map(|s| s.to_string()))
            })
            .unwrap_or_else(|| "this password is too easy to guess".into());
        return Err(WeakPassword { advice });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_only_its_password() {
        let h = hash("correct horse battery staple").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse battery staple", &h));
        assert!(!verify("wrong", &h));
        assert!(!verify("anything", "not a phc string"));
    }

    #[test]
    fn weak_passwords_are_refused_with_advice() {
        assert!(check_strength("short", 2, &[]).is_err());
        assert!(check_strength("password1", 2, &[]).is_err());
        assert!(check_strength("alice12345", 2, &["alice"]).is_err());
        assert!(check_strength(&"x".repeat(129), 0, &[]).is_err());
        assert!(check_strength("violet-harbor-cinnamon-42", 2, &["alice"]).is_ok());
    }
}
