//! Transaction (click) ids: 128 bits written as 32 lower-case hex characters: a 48-bit Unix
//! millisecond timestamp, then 80 bits that look random (DESIGN.md). Time-ordered so inserts stay
//! index-local (DESIGN.md measured 7× faster on SQLite than random ids); unguessable.
//!
//! The 80 bits are 16 **masked sequence** bits and 64 random bits `r`. Each click also has a
//! **sequence key** (`clicks.seq`): its millisecond and a 16-bit counter, strictly increasing
//! within a server ([`SequenceKeys`]). The id carries the counter XOR-ed with 16 bits mixed
//! from `r` ([`mask`]), so that the 80 bits are uniformly distributed (a plain counter wrote
//! `0000`, `0001`, … after the timestamp) and the key is still read back from the id alone
//! ([`TransactionId::seq`]). On SQLite the key is the clicks table's integer primary key: a
//! click is found from its id without an index on the id, and a batch of clicks is appended to
//! the table's last page (the index on the 32-character id cost every click an insert into a
//! second b-tree and ~3 more WAL pages per commit: BENCHMARKS.md).
//!
//! Ids given out before the mask (sessions 12 to 15) carry the counter plain:
//! [`TransactionId::plain_seq`] is their key.

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
        TransactionId::with_key(step(previous) as i64, rng.next_u64())
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

    /// The id of the click with sequence key `seq` (millisecond and counter) and random bits
    /// `random`.
    pub fn with_key(seq: i64, random: u64) -> Self {
        let masked = seq as u64 ^ u64::from(mask(random));
        TransactionId((u128::from(masked) << Self::RANDOM_BITS) | u128::from(random))
    }

    /// The click time this id carries, in Unix milliseconds.
    pub fn unix_millis(self) -> i64 {
        (self.0 >> (Self::RANDOM_BITS + Self::SEQUENCE_BITS)) as i64
    }

    /// The sequence key, `clicks.seq` of the click it names: the millisecond and the counter
    /// unmasked. (Clicks recorded before the mask have [`Self::plain_seq`], and those recorded
    /// before sequence keys existed a negative `seq`: [`crate::click::Click::find`] tries both.)
    pub fn seq(self) -> i64 {
        (self.plain_seq() as u64 ^ u64::from(mask(self.0 as u64))) as i64
    }

    /// The id's first 64 bits: the sequence key of a click recorded before the counter was
    /// masked.
    pub fn plain_seq(self) -> i64 {
        (self.0 >> Self::RANDOM_BITS) as u64 as i64
    }
}

/// The 16 bits that hide a click's counter in its id: the high bits of the random part mixed
/// by SplitMix64's finaliser (every bit of `random` moves each of them). Part of the id format:
/// never change it, or stored ids no longer name their clicks.
fn mask(random: u64) -> u16 {
    let mut z = random;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 48) as u16
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
        assert_eq!(ids[0].to_string()[..12], format!("{ms:012x}"), "the id starts with its millisecond");
        assert!(ids.iter().all(|i| TransactionId::parse(&i.to_string()).unwrap().seq() == i.seq()), "key from id");
        // The clock stepping back never repeats a key; a stored key is never given out again.
        let back = keys.next(ms - 5_000, &mut rng);
        assert!(back.seq() > ids[999].seq());
        keys.advance_past((ms + 10) << 16);
        assert!(keys.next(ms, &mut rng).seq() > (ms + 10) << 16);
        // 64 random bits: ids of one millisecond differ beyond their keys.
        assert_ne!(ids[0].0 as u64, ids[1].0 as u64);
    }

    #[test]
    fn the_80_bits_after_the_timestamp_are_uniformly_spread_not_a_visible_counter() {
        let mut rng = rand::thread_rng();
        let keys = SequenceKeys::default();
        let ms = 1_900_000_000_000;
        let ids: Vec<String> = (0..4096).map(|_| keys.next(ms, &mut rng).to_string()).collect();
        // A plain counter wrote 0000..0fff in characters 12..16 (mean 2,048); uniform 16-bit
        // values have mean 32,767.5 and, over 4,096 of them, a standard error of about 296.
        let field = |id: &String| u32::from_str_radix(&id[12..16], 16).unwrap();
        let mean = ids.iter().map(field).sum::<u32>() as f64 / ids.len() as f64;
        assert!((mean - 32_767.5).abs() < 3_000.0, "mean of the 16 bits after the timestamp: {mean}");
        // Every one of the 20 hex digits after the timestamp takes all 16 values.
        for position in 12..32 {
            let seen: std::collections::HashSet<u8> = ids.iter().map(|id| id.as_bytes()[position]).collect();
            assert_eq!(seen.len(), 16, "digit {position}");
        }
        // Each id still names its key, and ids of the layout before the mask keep theirs.
        let id = TransactionId::with_key((ms << 16) | 7, 0x5eed);
        assert_eq!(id.seq(), (ms << 16) | 7);
        let plain = TransactionId::parse(&format!("{:016x}{:016x}", (ms << 16) | 7, 0x5eed)).unwrap();
        assert_eq!(plain.plain_seq(), (ms << 16) | 7);
        assert_eq!(plain.unix_millis(), ms);
    }
}
