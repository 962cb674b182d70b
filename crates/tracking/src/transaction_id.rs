//! Transaction (click) ids: 128 bits written as 32 lower-case hex characters: a 48-bit Unix
//! millisecond timestamp, a 16-bit sequence, 64 random bits. Time-ordered so inserts stay
//! index-local (DESIGN.md measured 7× faster on SQLite than random ids); unguessable thanks to
//! the 64 random bits.
//!
//! The first 64 bits (timestamp and sequence) are the click's **sequence key** (`clicks.seq`),
//! strictly increasing within a server ([`SequenceKeys`]). On SQLite it is the clicks
//! table's integer primary key: a click is found from its id without an index on the id, and a
//! batch of clicks is appended to the table's last page (the index on the 32-character id cost
//! every click an insert into a second b-tree and ~3 more WAL pages per commit: BENCHMARKS.md).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use rand::RngCore;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionId(u128);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a transaction id is 32 hexadecimal characters")]
pub struct BadTransactionId;

/// Gives out transaction ids whose sequence keys strictly increase (one per server, shared by
/// its handlers).
#[derive(Debug, Default)]
pub struct SequenceKeys {
    last: AtomicU64,
}

impl SequenceKeys {
    /// A new id for a click at `unix_millis`. Its sequence key is the millisecond followed by a
    /// counter, above every key given out before: if more than 65,536 clicks share a
    /// millisecond, or the clock steps back, the key runs ahead of the clock rather than repeat.
    pub fn next(&self, unix_millis: i64, rng: &mut impl RngCore) -> TransactionId {
        let millis = (unix_millis.max(0) as u64) & ((1u64 << 48) - 1);
        let floor = millis << TransactionId::SEQUENCE_BITS;
        let step = |last: u64| floor.max(last + 1);
        let previous = self
            .last
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| Some(step(last)))
            .unwrap_or_else(|last| last);
        TransactionId((u128::from(step(previous)) << TransactionId::RANDOM_BITS) | u128::from(rng.next_u64()))
    }

    /// Gives out only keys above `seq` from now on (the largest one stored, read when the click
    /// writer starts: keys stay unique across restarts even if the clock stepped back).
    pub fn advance_past(&self, seq: i64) {
        self.last.fetch_max(u64::try_from(seq).unwrap_or(0), Ordering::Relaxed);
    }
}

impl TransactionId {
    const RANDOM_BITS: u32 = 64;
    const SEQUENCE_BITS: u32 = 16;

    /// Parses the 32-hex form (either case; stored and printed lower-case).
    pub fn parse(s: &str) -> Result<Self, BadTransactionId> {
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(BadTransactionId);
        }
        u128::from_str_radix(s, 16).map(TransactionId).map_err(|_| BadTransactionId)
    }

    /// The click time this id carries, in Unix milliseconds.
    pub fn unix_millis(self) -> i64 {
        (self.0 >> (Self::RANDOM_BITS + Self::SEQUENCE_BITS)) as i64
    }

    /// The sequence key: the id's first 64 bits, `clicks.seq` of the click it names. (Clicks
    /// recorded before sequence keys existed have a negative `seq` and are found by their id:
    /// [`crate::click::Click::find`].)
    pub fn seq(self) -> i64 {
        (self.0 >> Self::RANDOM_BITS) as u64 as i64
    }
}

impl TransactionId {
    /// The 32 lower-case hex characters (what `Display` writes, without the formatting
    /// machinery: every click makes one).
    pub fn to_hex(self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut hex = [0u8; 32];
        for (i, digit) in hex.iter_mut().enumerate() {
            *digit = HEX[((self.0 >> ((31 - i) * 4)) & 15) as usize];
        }
        String::from_utf8_lossy(&hex).into_owned()
    }
}

impl fmt::Display for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_time_ordered_hex_round_trip_and_have_increasing_sequence_keys() {
        let mut rng = rand::thread_rng();
        let keys = SequenceKeys::default();
        let a = keys.next(1_764_072_000_000, &mut rng);
        let b = keys.next(1_764_072_000_001, &mut rng);
        assert!(a < b);
        assert!(a.to_string() < b.to_string());
        assert_eq!(a.to_string().len(), 32);
        assert_eq!(a.to_hex(), format!("{:032x}", a.0));
        assert_eq!(TransactionId(0xab).to_hex(), format!("{:032x}", 0xab));
        assert_eq!(a.unix_millis(), 1_764_072_000_000);
        assert_eq!(TransactionId::parse(&a.to_string()), Ok(a));
        assert_eq!(TransactionId::parse(&a.to_string().to_uppercase()), Ok(a));
        for bad in ["", "xyz", &"g".repeat(32), &"a".repeat(31), &"a".repeat(33), "+0000000000000000000000000000001"] {
            assert_eq!(TransactionId::parse(bad), Err(BadTransactionId), "{bad}");
        }

        let ms = 1_900_000_000_000;
        let ids: Vec<TransactionId> = (0..1000).map(|_| keys.next(ms, &mut rng)).collect();
        assert!(ids.windows(2).all(|w| w[0].seq() < w[1].seq()), "strictly increasing");
        assert!(ids.iter().all(|i| i.unix_millis() == ms), "1,000 clicks fit in one millisecond");
        assert_eq!(ids[0].seq() >> 16, ms);
        assert_eq!(ids[0].to_string()[..16], format!("{:016x}", ids[0].seq()));
        // The clock stepping back never repeats a key; a stored key is never given out again.
        let back = keys.next(ms - 5_000, &mut rng);
        assert!(back.seq() > ids[999].seq());
        keys.advance_past((ms + 10) << 16);
        assert!(keys.next(ms, &mut rng).seq() > (ms + 10) << 16);
        // 64 random bits: ids of one millisecond differ beyond their keys.
        assert_ne!(ids[0].0 as u64, ids[1].0 as u64);
    }
}
