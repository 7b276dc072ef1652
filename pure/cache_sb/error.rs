//! What can be wrong with a bcache cache superblock, as far as the pure code judges it.

use core::fmt;

use crate::pure::nvmpg::error::Error;

use super::features::FeatureKind;

/// A domain error about a `cache_sb_disk` or about the NVDIMM journal it describes; each
/// variant names what is wrong and carries the values found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SbError {
    /// The buffer ends before the bytes the operation needs.
    Truncated {
        /// Bytes needed.
        need: u64,
        /// Bytes available.
        have: u64,
    },
    /// `magic` is not bcache's.
    BadMagic,
    /// `offset` is not [`crate::pure::cache_sb::sb::SB_SECTOR`].
    BadOffset {
        /// Stored value.
        found: u64,
    },
    /// `keys` is above [`crate::pure::cache_sb::sb::SB_JOURNAL_BUCKETS`].
    TooManyJournalBuckets {
        /// Stored value.
        keys: u16,
    },
    /// `csum` does not match the bytes it covers.
    BadCsum {
        /// Stored value.
        found: u64,
        /// Computed value.
        expected: u64,
    },
    /// The superblock is not a cache device's (`version` is a backing device's or unknown).
    NotCacheDevice {
        /// Stored version.
        version: u64,
    },
    /// A feature word holds bits this code does not support.
    UnknownFeatures {
        /// The feature word.
        kind: FeatureKind,
        /// The unsupported bits.
        bits: u64,
    },
    /// The bucket size is not a power of two of at least a page, or does not decode.
    BadBucketSize {
        /// Bucket size in sectors (0 if it does not decode).
        sectors: u32,
    },
    /// The superblock has no journal bucket.
    NoJournalBuckets,
    /// `bucket_size * keys` is not a power-of-two number of pages, so no single allocator range
    /// holds exactly the journal.
    JournalNotPowerOfTwo {
        /// Journal size in pages.
        pages: u64,
    },
    /// The journal needs a range of an order the allocator cannot hand out.
    JournalTooLarge {
        /// Order (log2 pages) of the journal range.
        order: u32,
    },
    /// `d[]` holds fewer entries than `keys`.
    MissingBuckets {
        /// Entries found.
        found: u16,
        /// `keys`.
        keys: u16,
    },
    /// `d[0]` is the "none" nvmpg offset.
    NullJournal,
    /// `d[0]` is not page aligned.
    Unaligned {
        /// `d[0]`.
        d0: u64,
    },
    /// The journal starting at `d[0]` would run past the namespace's offset bits.
    PastNamespace {
        /// `d[0]`.
        d0: u64,
    },
    /// `d[index]` is not `d[0] + index * bucket bytes`.
    NotConsecutive {
        /// The journal bucket.
        index: u16,
        /// Stored value.
        found: u64,
        /// Expected value.
        expected: u64,
    },
    /// The cache set's uuid has no head in the NVDIMM's allocation lists: it never owned
    /// NVDIMM pages (or no lists are loaded).
    NoOwner,
    /// The allocator's lists could not be walked.
    AllocLists(Error),
    /// No range recorded for the cache set's uuid holds `d[0]`.
    NoRecord {
        /// `d[0]`.
        d0: u64,
    },
    /// The recorded range holding `d[0]` starts before it.
    NotRangeStart {
        /// `d[0]`.
        d0: u64,
        /// Start of the recorded range.
        range: u64,
    },
    /// The recorded range starting at `d[0]` is not the journal's size.
    SizeMismatch {
        /// `d[0]`.
        d0: u64,
        /// Order of the recorded range.
        order: u8,
        /// Order of the journal.
        expected: u8,
    },
}

impl fmt::Display for SbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Truncated { need, have } => {
                write!(f, "superblock truncated: need {need} bytes, have {have}")
            }
            Self::BadMagic => f.write_str("not a bcache superblock (bad magic)"),
            Self::BadOffset { found } => write!(f, "not a bcache superblock (bad offset {found})"),
            Self::TooManyJournalBuckets { keys } => write!(f, "too many journal buckets ({keys})"),
            Self::BadCsum { found, expected } => {
                write!(f, "bad checksum {found:#018x}, expected {expected:#018x}")
            }
            Self::NotCacheDevice { version } => write!(f, "not a cache device (version {version})"),
            Self::UnknownFeatures { kind, bits } => {
                write!(f, "unsupported {kind:?} features {bits:#x}")
            }
            Self::BadBucketSize { sectors } => write!(f, "bad bucket size ({sectors} sectors)"),
            Self::NoJournalBuckets => f.write_str("no journal buckets"),
            Self::JournalNotPowerOfTwo { pages } => {
                write!(f, "journal of {pages} pages is not a power of two")
            }
            Self::JournalTooLarge { order } => write!(f, "journal range order {order} too large"),
            Self::MissingBuckets { found, keys } => {
                write!(f, "{found} journal buckets in d[], sb.keys is {keys}")
            }
            Self::NullJournal => f.write_str("journal bucket 0 has no NVDIMM location"),
            Self::Unaligned { d0 } => write!(f, "journal location {d0:#x} not page aligned"),
            Self::PastNamespace { d0 } => {
                write!(f, "journal at {d0:#x} runs past the namespace")
            }
            Self::NotConsecutive {
                index,
                found,
                expected,
            } => write!(
                f,
                "journal bucket {index} at {found:#x}, expected {expected:#x} (not consecutive)"
            ),
            Self::NoOwner => f.write_str("cache set owns no NVDIMM pages"),
            Self::AllocLists(e) => write!(f, "NVDIMM allocation lists unreadable: {e}"),
            Self::NoRecord { d0 } => write!(f, "no NVDIMM range recorded at journal {d0:#x}"),
            Self::NotRangeStart { d0, range } => write!(
                f,
                "journal {d0:#x} inside the range at {range:#x} instead of at its start"
            ),
            Self::SizeMismatch {
                d0,
                order,
                expected,
            } => write!(
                f,
                "range at journal {d0:#x} has order {order}, journal needs order {expected}"
            ),
        }
    }
}
