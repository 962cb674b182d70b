//! argon2id password hashing.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use affnet_db::FieldErrors;

pub const MIN_LEN: usize = 10;
pub const MAX_LEN: usize = 256;

/// Refuses passwords too short to resist guessing, or too long to hash cheaply.
pub fn check_policy(password: &str, field: &str) -> Result<(), FieldErrors> {
    let n = password.chars().count();
    if n < MIN_LEN {
        return Err(FieldErrors::single(field, format!("use at least {MIN_LEN} characters")));
    }
    if n > MAX_LEN {
        return Err(FieldErrors::single(field, format!("use at most {MAX_LEN} characters")));
    }
    // Spaces count like any character, but a password of nothing else, or of one character
    // repeated, is the first thing a guesser tries.
    let mut chars = password.chars();
    let first = chars.next();
    if password.trim().is_empty() || chars.all(|c| Some(c) == first) {
        return Err(FieldErrors::single(field, "use more than spaces or one character repeated"));
    }
    Ok(())
}

/// Hashes with argon2id (the crate's defaults: 19 MiB, 2 passes) and a random salt, in PHC form.
pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    match Argon2::default().hash_password(password.as_bytes(), &salt) {
        Ok(h) => h.to_string(),
        // Only reachable with parameters out of range, which the defaults are not; an
        // unusable hash then refuses every sign-in rather than accepting any.
        Err(_) => String::from("!"),
    }
}

/// Whether `password` matches a stored PHC hash.
pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
        .unwrap_or(false)
}

/// A hash of a password nobody has, verified against when the email is unknown, so that an
/// unknown email takes as long to refuse as a wrong password.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash(&crate::token::random_hex(16)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let h = hash("correct horse battery");
        assert!(h.starts_with("$argon2id$"));
        assert_ne!(h, hash("correct horse battery"));
        assert!(verify("correct horse battery", &h));
        assert!(!verify("correct horse batterY", &h));
        assert!(!verify("anything", "!"));
    }

    #[test]
    fn policy() {
        assert!(check_policy("short", "password").is_err());
        assert!(check_policy("long enough!", "password").is_ok());
        assert!(check_policy(&"x".repeat(300), "password").is_err());
        for weak in [" ".repeat(10), " \t ".repeat(4), "a".repeat(12), "é".repeat(10)] {
            assert!(check_policy(&weak, "password").is_err(), "{weak:?}");
        }
        for fine in ["aaaaaaaaab".to_owned(), "  two words  ".to_owned(), "ab".repeat(5)] {
            assert!(check_policy(&fine, "password").is_ok(), "{fine:?}");
        }
    }
}
