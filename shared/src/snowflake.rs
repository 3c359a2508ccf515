//! Snowflake ids: 64-bit, time-ordered, unique without any shared memory.
//!
//! Layout (most significant first): 1 unused bit, 41 bits of milliseconds
//! since the Omni epoch, 10 bits of node id, 12 bits of sequence.
//!
//! A Spin instance lives for one request, so there is no in-memory sequence
//! counter to lean on. The sequence bits are random instead, and the table's
//! primary key is the arbiter: an insert that collides (same millisecond, same
//! node, same random bits) fails with a duplicate key on `PRIMARY` and is
//! retried with a fresh id by `store::insert_with_fresh_id`.
//!
//! No two rows share an id, even across tables: the low two sequence bits
//! name the row's kind ([`IdKind`]), so a user, a post and a comment made in
//! the same millisecond on the same node differ there, and each table's
//! primary key keeps its own kind unique. That leaves 10 random bits, 1024
//! ids per millisecond, node and kind.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::log;
use crate::time::now_ms;

/// 2025-01-01T00:00:00.000Z in Unix milliseconds.
pub const OMNI_EPOCH_MS: i64 = 1_735_689_600_000;

const SEQUENCE_BITS: u32 = 12;
/// The low sequence bits that name an id's kind.
const KIND_BITS: u32 = 2;
const KIND_MASK: i64 = (1 << KIND_BITS) - 1;
const NODE_BITS: u32 = 10;
const TIMESTAMP_BITS: u32 = 41;
const SEQUENCE_MASK: i64 = (1 << SEQUENCE_BITS) - 1;
const NODE_MASK: i64 = (1 << NODE_BITS) - 1;
const MAX_TIMESTAMP: i64 = (1 << TIMESTAMP_BITS) - 1;

/// A Snowflake id. Written in JSON and URLs as a decimal string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id(i64);

/// What an id names: one kind per table, written into its low two bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdKind {
    /// A user.
    User = 0,
    /// A post.
    Post = 1,
    /// A comment.
    Comment = 2,
}

/// The node (shard) part of an id: 0 to 1023.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeId(u16);

/// Why an id could not be made or read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    /// The clock is before the Omni epoch or past the 41-bit range (year 2094).
    #[error("time {0} ms is outside the Snowflake range")]
    TimeOutOfRange(i64),
    /// Not a decimal id.
    #[error("not a valid id")]
    Malformed,
    /// The node id is over 1023.
    #[error("node id must be between 0 and 1023")]
    NodeOutOfRange,
    /// The host gave no randomness for the sequence bits.
    #[error("no randomness for an id: {0}")]
    NoRandomness(String),
}

impl Id {
    /// The largest id: every id is at most this, so `?before=` it lists
    /// from the newest.
    pub const MAX: Id = Id(i64::MAX);

    /// Builds an id from Unix milliseconds, a node and a sequence number
    /// (only its low 12 bits are used).
    pub fn from_parts(unix_ms: i64, node: NodeId, sequence: u16) -> Result<Self, IdError> {
        let since_epoch = unix_ms - OMNI_EPOCH_MS;
        if !(0..=MAX_TIMESTAMP).contains(&since_epoch) {
            return Err(IdError::TimeOutOfRange(unix_ms));
        }
        let node = i64::from(node.0);
        let sequence = i64::from(sequence) & SEQUENCE_MASK;
        Ok(Self(
            (since_epoch << (NODE_BITS + SEQUENCE_BITS)) | (node << SEQUENCE_BITS) | sequence,
        ))
    }

    /// A stored id. Negative numbers are not ids.
    pub fn from_i64(raw: i64) -> Result<Self, IdError> {
        if raw < 0 {
            return Err(IdError::Malformed);
        }
        Ok(Self(raw))
    }

    /// The id as stored in a BIGINT column.
    pub fn as_i64(self) -> i64 {
        self.0
    }

    /// When the id was made, in Unix milliseconds.
    pub fn unix_ms(self) -> i64 {
        (self.0 >> (NODE_BITS + SEQUENCE_BITS)) + OMNI_EPOCH_MS
    }

    /// The node (shard) that made the id.
    pub fn node(self) -> NodeId {
        // Masked to 10 bits, so it always fits.
        NodeId((self.0 >> SEQUENCE_BITS & NODE_MASK) as u16)
    }

    /// The sequence bits.
    pub fn sequence(self) -> u16 {
        (self.0 & SEQUENCE_MASK) as u16
    }

    /// The kind written into the id, if it was made by [`Id::generate`].
    pub fn kind(self) -> Option<IdKind> {
        match self.0 & KIND_MASK {
            0 => Some(IdKind::User),
            1 => Some(IdKind::Post),
            2 => Some(IdKind::Comment),
            _ => None,
        }
    }

    /// A new id of `kind` for `node`, stamped with the current time, or
    /// just after `newest` if this node's clock reads earlier (a Pi without
    /// a real-time clock can boot with an old one): ids never go backwards,
    /// so keyset paging never skips a row. Random sequence bits sit above
    /// the two that name the kind. A clock before the Omni epoch, with no
    /// later id to follow, is [`IdError::TimeOutOfRange`].
    pub fn generate(node: NodeId, kind: IdKind, newest: Option<Id>) -> Result<Self, IdError> {
        let random = getrandom::u32().map_err(|e| IdError::NoRandomness(e.to_string()))?;
        // 10 random bits, then the kind: always below 4096.
        let sequence = ((random & 0x3ff) << KIND_BITS) as u16 | kind as u16;
        let now = now_ms();
        let floor = newest.map_or(i64::MIN, |id| id.unix_ms() + 1);
        if floor > now {
            log::warn(
                "clock_behind",
                &[
                    ("clock_ms", now.into()),
                    ("newest_id_ms", (floor - 1).into()),
                ],
            );
        }
        Self::from_parts(now.max(floor), node, sequence)
    }
}

impl NodeId {
    /// A node id, if it is at most 1023.
    pub fn new(value: u16) -> Result<Self, IdError> {
        if i64::from(value) > NODE_MASK {
            return Err(IdError::NodeOutOfRange);
        }
        Ok(Self(value))
    }

    /// The node as a number.
    pub fn get(self) -> u16 {
        self.0
    }
}

impl FromStr for Id {
    type Err = IdError;

    /// Accepts only decimal digits (no sign, no spaces) that fit in 63 bits.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdError::Malformed);
        }
        s.parse::<i64>().map(Self).map_err(|_| IdError::Malformed)
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for Id {
    /// As a string: JavaScript loses precision past 2^53.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Id {
    /// From the decimal string [`Serialize`] writes.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Shorthands for unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::{Id, NodeId};

    /// Id `n`, which must not be negative.
    pub(crate) fn id(n: i64) -> Id {
        Id::from_i64(n).unwrap()
    }

    /// Node `n`, which must be at most 1023.
    pub(crate) fn node(n: u16) -> NodeId {
        NodeId::new(n).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::node;
    use super::*;

    #[test]
    fn parts_round_trip_through_an_id() {
        let id = Id::from_parts(OMNI_EPOCH_MS + 123_456_789, node(1023), 4095).unwrap();
        assert_eq!(id.unix_ms(), OMNI_EPOCH_MS + 123_456_789);
        assert_eq!(id.node().get(), 1023);
        assert_eq!(id.sequence(), 4095);
    }

    #[test]
    fn the_layout_is_41_10_12_bits() {
        let id = Id::from_parts(OMNI_EPOCH_MS + 1, node(1), 1).unwrap();
        assert_eq!(id.as_i64(), (1 << 22) | (1 << 12) | 1);
    }

    #[test]
    fn ids_are_positive_even_at_the_end_of_the_range() {
        let id = Id::from_parts(OMNI_EPOCH_MS + MAX_TIMESTAMP, node(1023), 4095).unwrap();
        assert_eq!(id.as_i64(), i64::MAX);
    }

    #[test]
    fn a_time_before_the_epoch_or_past_the_range_is_refused() {
        assert_eq!(
            Id::from_parts(OMNI_EPOCH_MS - 1, node(0), 0),
            Err(IdError::TimeOutOfRange(OMNI_EPOCH_MS - 1))
        );
        assert!(Id::from_parts(OMNI_EPOCH_MS + MAX_TIMESTAMP + 1, node(0), 0).is_err());
    }

    #[test]
    fn only_the_low_12_bits_of_the_sequence_count() {
        let id = Id::from_parts(OMNI_EPOCH_MS, node(0), 0xffff).unwrap();
        assert_eq!(id.sequence(), 0xfff);
        assert_eq!(id.node().get(), 0);
    }

    #[test]
    fn node_ids_stop_at_1023() {
        assert!(NodeId::new(1023).is_ok());
        assert_eq!(NodeId::new(1024), Err(IdError::NodeOutOfRange));
    }

    #[test]
    fn later_milliseconds_always_give_larger_ids() {
        let early = Id::from_parts(OMNI_EPOCH_MS + 10, node(1023), 4095).unwrap();
        let late = Id::from_parts(OMNI_EPOCH_MS + 11, node(0), 0).unwrap();
        assert!(early < late);
    }

    #[test]
    fn generated_ids_carry_the_node_and_the_current_time() {
        let before = now_ms();
        let id = Id::generate(node(7), IdKind::Post, None).unwrap();
        let after = now_ms();
        assert_eq!(id.node().get(), 7);
        assert!((before..=after).contains(&id.unix_ms()));
    }

    #[test]
    fn an_id_never_falls_below_the_newest_even_with_a_clock_behind() {
        let future = Id::from_parts(now_ms() + 60_000, node(2), 5).unwrap();
        let id = Id::generate(node(1), IdKind::Comment, Some(future)).unwrap();
        assert_eq!(id.unix_ms(), future.unix_ms() + 1);
        assert!(id > future);
        let past = Id::from_parts(OMNI_EPOCH_MS, node(2), 5).unwrap();
        let id = Id::generate(node(1), IdKind::Comment, Some(past)).unwrap();
        assert!(id.unix_ms() >= now_ms() - 1000);
    }

    #[test]
    fn ids_of_different_kinds_are_never_equal() {
        let kinds = [IdKind::User, IdKind::Post, IdKind::Comment];
        let mut seen = std::collections::HashMap::new();
        for _ in 0..3000 {
            for kind in kinds {
                let id = Id::generate(node(1), kind, None).unwrap();
                assert_eq!(id.kind(), Some(kind));
                if let Some(other) = seen.insert(id, kind) {
                    assert_eq!(other, kind, "{id} was both a {other:?} and a {kind:?}");
                }
            }
        }
    }

    #[test]
    fn ids_parse_from_decimal_digits_only() {
        assert_eq!(
            "118407598460190720".parse(),
            Ok(Id(118_407_598_460_190_720))
        );
        assert_eq!("9223372036854775807".parse(), Ok(Id(i64::MAX)));
        for bad in [
            "",
            "-1",
            "+1",
            " 1",
            "1 ",
            "1e3",
            "abc",
            "9223372036854775808",
            "00000000000000000001",
        ] {
            assert_eq!(bad.parse::<Id>(), Err(IdError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn ids_serialize_as_json_strings() {
        let json = serde_json::to_string(&Id(118_407_598_460_190_720)).unwrap();
        assert_eq!(json, "\"118407598460190720\"");
        assert_eq!(
            serde_json::from_str::<Id>(&json).unwrap(),
            Id(118_407_598_460_190_720)
        );
        assert!(serde_json::from_str::<Id>("\"-1\"").is_err());
    }
}
