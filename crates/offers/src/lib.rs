//! affnet's catalogue: advertisers, affiliates, offers and their goals, payouts and revenue,
//! per-affiliate access and payout overrides, caps, attribution windows, advertiser security
//! tokens and IP allow-lists.
//!
//! Plain functions over a connection, each taking the tenant it works in; nothing of HTTP. The
//! effective payout of a conversion is decided in one place: [`payout::resolve`].

pub mod access;
pub mod advertiser;
pub mod affiliate;
pub mod error;
pub mod goal;
pub mod ip_allowlist;
pub mod listing;
pub mod macros;
pub mod offer;
pub mod payout;
pub mod payout_override;
pub mod url;

pub use access::{AccessStatus, Decision, OfferAccess};
pub use advertiser::{Advertiser, AdvertiserInput, AdvertiserStatus};
pub use affiliate::{Affiliate, AffiliateInput, AffiliateStatus};
pub use error::OffersError;
pub use goal::{Goal, GoalInput, GoalStatus};
pub use offer::{CapUnit, ConversionStatus, Offer, OfferFilter, OfferInput, OfferStatus, OverCap, Visibility};
pub use payout::{PayoutType, Rate};
pub use payout_override::{OverrideInput, PayoutOverride};

/// Declares a text-stored enum: `as_str`, `FromStr` (with an error naming the allowed words),
/// `ALL`, serde as the same words, and diesel `Text` mapping.
#[macro_export]
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash,
            diesel::expression::AsExpression, diesel::deserialize::FromSqlRow,
        )]
        #[diesel(sql_type = diesel::sql_types::Text)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        "'{}' is not one of: {}",
                        other.chars().take(40).collect::<String>(),
                        [$($text),+].join(", ")
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        affnet_db::text_sql!($name);
    };
}

diesel::define_sql_function! {
    /// SQL `lower()`. Searches compare `lower(column) LIKE lower(pattern)`: PostgreSQL's `LIKE`
    /// is case-sensitive where SQLite's is not; folded by the same database on both sides, a
    /// search ignores the case of ASCII letters on both (and of all letters on PostgreSQL).
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// A `LIKE` pattern matching `search` anywhere, read literally: `%`, `_` and `\` are escaped
/// with `\`, and every search states that escape character (`LIKE … ESCAPE '\'`), since the two
/// backends disagree on the default one. A search for `%` finds names holding a `%`.
pub fn like_pattern(search: &str) -> String {
    let mut pattern = String::with_capacity(search.len() + 2);
    pattern.push('%');
    for c in search.chars().take(100) {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A counter bumped by every catalogue write of this process. The tracking cache compares it to
/// drop what it cached before a change at once (other nodes see changes within the cache TTL).
pub fn generation() -> u64 {
    GENERATION.load(std::sync::atomic::Ordering::Acquire)
}

/// Marks the catalogue as changed (called by every write function of this crate).
pub fn changed() {
    GENERATION.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
}

/// Calls [`changed`] when dropped: a write function holds one, so the bump happens after its
/// write, and a cache load that began before the write is seen as stale.
pub struct ChangeGuard;

impl Drop for ChangeGuard {
    fn drop(&mut self) {
        changed();
    }
}
