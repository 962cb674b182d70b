//! argon2id password hashing.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use affnet_db::FieldErrors;

pub const MIN_LEN: usize = 10;
pub const MAX_LEN: usize = 256;

/// The password as it is hashed: in Unicode's composed form (NFC), so that one password typed
/// on keyboards or systems that compose accents differently ("é" as one character, or as "e"
/// and a combining accent, as macOS file names and some input methods do) is one password.
fn normalized(password: &str) -> std::borrow::Cow<'_, str> {
    icu_normalizer::ComposingNormalizerBorrowed::new_nfc().normalize(password)
}

/// Refuses passwords too short to resist guessing, or too long to hash cheaply.
pub fn check_policy(password: &str, field: &str) -> Result<(), FieldErrors> {
    let password = normalized(password);
    let password = password.as_ref();
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

/// A password being set, as typed and hashed. Hash it before the transaction that stores it:
/// argon2 takes tens of milliseconds, and on SQLite every writer (the click recorder included)
/// waits while a write transaction is open, so a hash made inside one held every click back.
pub struct NewPassword {
    typed: String,
    hash: String,
}

impl NewPassword {
    /// Hashes `typed` ([`hash`]). Blocking: call off the async executor, outside transactions.
    pub fn hash(typed: &str) -> Self {
        NewPassword { typed: typed.to_owned(), hash: hash(typed) }
    }

    /// The password as typed, for the policy ([`check_policy`]).
    pub fn typed(&self) -> &str {
        &self.typed
    }

    /// What is stored: the PHC hash.
    pub fn stored(&self) -> &str {
        &self.hash
    }
}

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(..)")
    }
}

/// Hashes the [normalized] password with argon2id (the crate's defaults: 19 MiB, 2 passes) and
/// a random salt, in PHC form.
pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    match Argon2::default().hash_password(normalized(password).as_bytes(), &salt) {
        Ok(h) => h.to_string(),
        // Only reachable with parameters out of range, which the defaults are not; an
        // unusable hash then refuses every sign-in rather than accepting any.
        Err(_) => String::from("!"),
    }
}

/// Whether `password` matches a stored PHC hash: its [normalized] form, or, for a password
/// typed in another form, as typed (hashes made before passwords were normalised hold it so).
pub fn verify(password: &str, stored: &str) -> bool {
    let Ok(h) = PasswordHash::new(stored) else { return false };
    let matches = |p: &str| Argon2::default().verify_password(p.as_bytes(), &h).is_ok();
    let composed = normalized(password);
    matches(&composed) || (composed != password && matches(password))
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
    fn one_password_in_composed_or_decomposed_form_is_one_password() {
        let (composed, decomposed) = ("caf\u{e9} au lait!", "cafe\u{301} au lait!");
        assert_ne!(composed, decomposed);
        for (typed_at_signup, typed_later) in [(composed, decomposed), (decomposed, composed)] {
            let h = hash(typed_at_signup);
            assert!(verify(typed_later, &h), "{typed_at_signup:?} then {typed_later:?}");
            assert!(verify(typed_at_signup, &h));
        }
        // A hash made before normalisation from the decomposed form still takes it as typed.
        let salt = SaltString::generate(&mut OsRng);
        let legacy = Argon2::default().hash_password(decomposed.as_bytes(), &salt).unwrap().to_string();
        assert!(verify(decomposed, &legacy));
        assert!(!verify("cafe au lait!!", &legacy));
        // The length policy counts the composed characters: 10 of them are enough.
        assert!(check_policy(&"e\u{301}a".repeat(5), "password").is_ok());
        assert!(check_policy(&"e\u{301}".repeat(10), "password").is_err(), "one character repeated");
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
